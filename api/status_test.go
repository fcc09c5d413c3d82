package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's chromium package, which
// `make test` installs) and returns a context to drive it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (make test does it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1200, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func hexColor(s string) color.RGBA {
	var c color.RGBA
	b, _ := hexDecode(strings.TrimPrefix(s, "#"))
	c.R, c.G, c.B, c.A = b[0], b[1], b[2], 255
	return c
}

func hexDecode(s string) ([]byte, error) {
	out := make([]byte, len(s)/2)
	for i := range out {
		var v byte
		for _, ch := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= byte(ch - '0')
			case ch >= 'a' && ch <= 'f':
				v |= byte(ch-'a') + 10
			}
		}
		out[i] = v
	}
	return out, nil
}

// near reports whether two colours are the same but for antialiasing.
func near(a color.Color, b color.RGBA) bool {
	r, g, bl, _ := a.RGBA()
	d := func(x uint32, y uint8) int { return int(x>>8) - int(y) }
	abs := func(v int) int { return max(v, -v) }
	return abs(d(r, b.R)) < 8 && abs(d(g, b.G)) < 8 && abs(d(bl, b.B)) < 8
}

// countColor counts the pixels of img close to c, column by column.
func countColor(img image.Image, c color.RGBA) (pixels int, columns []int) {
	bounds := img.Bounds()
	for x := bounds.Min.X; x < bounds.Max.X; x++ {
		n := 0
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			if near(img.At(x, y), c) {
				n++
			}
		}
		if n > 0 {
			columns = append(columns, x)
		}
		pixels += n
	}
	return pixels, columns
}

// TestStatusPageInBrowser loads the status page in headless Chromium and
// checks from screenshots that the map shows every cluster and that the
// bars are drawn in proportion to the Plan's shares.
func TestStatusPageInBrowser(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, `{"kind":"drain","cluster":"eu-west","reason":"maintenance window","for":"1h"}`, nil)
	ctx := browser(t)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+readToken))
	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	shot := func(sel string) []byte {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", sel, err)
		}
		return b
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	run("navigate", chromedp.Navigate(f.srv.URL+"/"))
	run("wait for the map", chromedp.WaitVisible(chromedp.CSS("#map")))
	title := get("title", chromedp.Title())
	text := get("text", chromedp.Text(chromedp.CSS("body")))
	version := get("plan version", chromedp.Text(chromedp.CSS("#plan-version")))
	// Every label on the map lies inside it (ap-southeast's is near its
	// east edge).
	if outside := get("map labels", chromedp.Evaluate[string](`(() => {
		const w = document.querySelector('svg#map').viewBox.baseVal.width;
		return [...document.querySelectorAll('#map text')].filter(t => { const b = t.getBBox(); return b.x < 0 || b.x + b.width > w; }).map(t => t.textContent).join(', ');
	})()`)); outside != "" {
		t.Errorf("map labels outside the map: %s", outside)
	}
	mapPNG := shot("#map")
	barPNG := shot(`.bar[data-site="unknown locations"]`)
	if title != "Meridian status" || len(version) != 16 {
		t.Errorf("title %q, plan version %q", title, version)
	}
	for _, want := range []string{"eu-west", "us-east", "ap-southeast", "drain-eu", "maintenance window", "clients near us-east", "refreshes every 5 s"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	// The map: us-east's dot green, and the dots of eu-west (drained by
	// the API) and ap-southeast (drained by the config) grey, each drawn
	// (r=7: about 150 pixels).
	mapImg := decodePNG(t, mapPNG)
	if dir := os.Getenv("MERIDIAN_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "api-map.png"), mapPNG, 0o644)
	}
	for _, dots := range []struct {
		color string
		n     int
	}{{colorReachable, 1}, {colorDrained, 2}} {
		if n, _ := countColor(mapImg, hexColor(dots.color)); n < dots.n*100 || n > dots.n*200 {
			t.Errorf("the map shows %d pixels of %s, want %d dots", n, dots.color, dots.n)
		}
	}

	// The bar of clients of unknown location: eu-west and ap-southeast
	// are drained, so us-east fills it, in its colour (from its name).
	bar := decodePNG(t, barPNG)
	width := bar.Bounds().Dx()
	f.mu.Lock()
	s, _ := f.plan.Service(svcName)
	want := map[string]float64{}
	for _, sh := range s.Route(len(f.plan.Sites)).Shares {
		want[s.ClusterOf(sh.Target)] += sh.Fraction
	}
	f.mu.Unlock()
	for _, c := range []string{"ap-southeast", "eu-west", "us-east"} {
		_, cols := countColor(bar, hexColor(clusterColor(c)))
		got := float64(len(cols)) / float64(width)
		if d := got - want[c]; d > 0.03 || d < -0.03 {
			t.Errorf("%s fills %.0f%% of the bar, the Plan gives it %.0f%%", c, 100*got, 100*want[c])
		}
	}

	// Without a token the page asks for one.
	if code, _ := f.do("GET", "/", "", "", nil); code != 401 {
		t.Errorf("the page without a token: %d, want 401", code)
	}
}
