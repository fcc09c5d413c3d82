package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// newBrowser starts headless Chromium (Debian's chromium package, which
// `make test` installs) and returns a function that opens a tab in a
// browser context of its own: no cookies nor cached credentials shared.
func newBrowser(t *testing.T) (tab func() context.Context) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (make test does it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatal(err)
	}
	return func() context.Context {
		ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
}

// pageFacts is what the status page shows, read from its DOM.
type pageFacts struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	PlanAt      string `json:"planAt"`
	PlanAtTitle string `json:"planAtTitle"`
	Banner      struct {
		State, Class, Role, Text string
		Visible                  bool
	} `json:"banner"`
	Services   map[string]string `json:"services"`   // name: data-state
	MapDots    map[string]string `json:"mapDots"`    // cluster: data-state
	Clusters   map[string]string `json:"clusters"`   // cluster: data-state
	NotServing []notServingRow   `json:"notServing"` // in page order
	NoneListed bool              `json:"noneListed"`
	Overrides  []struct {
		ID, Expires, ExpiresTitle string
	} `json:"overrides"`
	// Layout, at the viewport's width.
	ScrollWidth int             `json:"scrollWidth"`
	InnerWidth  int             `json:"innerWidth"`
	Visible     map[string]bool `json:"visible"` // selector: on screen, within the width
}

type notServingRow struct {
	Cluster, Address, State, Reason, Since, SinceTitle string
}

// pageFactsJS reads pageFacts.
const pageFactsJS = `(() => {
  const q = s => document.querySelector(s), all = s => [...document.querySelectorAll(s)];
  const within = e => { if (!e) return false; const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth + 0.5; };
  const states = s => Object.fromEntries(all(s).map(e => [e.dataset.service || e.dataset.cluster, e.dataset.state]));
  const b = q('#banner');
  const time = td => td.querySelector('time');
  return {
    title: document.title,
    version: q('#plan-version').textContent,
    planAt: q('#plan-at').textContent, planAtTitle: q('#plan-at').title,
    banner: {State: b.dataset.state, Class: b.className, Role: b.getAttribute('role') || '', Text: b.textContent, Visible: within(b)},
    services: states('#services tr[data-service]'),
    mapDots: states('#map g.cluster'),
    clusters: states('#clusters tr[data-cluster]'),
    notServing: all('#not-serving tr[data-address]').map(tr => { const td = tr.cells;
      return {Cluster: td[1].textContent, Address: td[2].textContent, State: td[3].textContent, Reason: td[4].textContent,
        Since: td[5].textContent, SinceTitle: time(td[5]) ? time(td[5]).title : ''}; }),
    noneListed: within(q('#not-serving-none')),
    overrides: all('#overrides tr[data-override]').map(tr => ({ID: tr.dataset.override, Expires: tr.cells[5].textContent,
      ExpiresTitle: time(tr.cells[5]) ? time(tr.cells[5]).title : ''})),
    scrollWidth: document.scrollingElement.scrollWidth, innerWidth: innerWidth,
    visible: Object.fromEntries(['#banner', '#plan-version', '#services', '#map', '#not-serving', '#clusters'].map(s => [s, within(q(s))])),
  };
})()`

func readFacts(t *testing.T, ctx context.Context) pageFacts {
	t.Helper()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](pageFactsJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return f
}

// load opens url and waits for the page's banner.
func load(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.WaitVisible(chromedp.CSS("#banner"))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("%s shows no status page: %v; it shows %q", url, err, body)
	}
}

// planVersion returns the Plan version the API reports.
func apiPlanVersion(t *testing.T, httpAddr, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		PlanVersion string `json:"plan_version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.PlanVersion
}

// statusPageHTML returns the status page of p, read with token.
func statusPageHTML(t *testing.T, p *process, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.httpAddr+"/", nil)
	req.SetBasicAuth("ops", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

var (
	hexVersion = regexp.MustCompile(`^[0-9a-f]{16}$`)
	relAgo     = regexp.MustCompile(`^\d+ s ago$|^\d+ min( \d+ s)? ago$`)
)

// TestStatusPageBrowserAuth opens the demo's status page in headless
// Chromium as the README says, with the read token as the password in the
// URL, and with an Authorization header; a wrong password gets no page.
func TestStatusPageBrowserAuth(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	tab := newBrowser(t)
	want := apiPlanVersion(t, p.httpAddr, "demo-read-token")

	t.Run("credentials in the URL", func(t *testing.T) {
		ctx := tab()
		load(t, ctx, "http://x:demo-read-token@"+p.httpAddr+"/?refresh=0")
		if f := readFacts(t, ctx); f.Title != "Meridian status" || f.Version != want || f.Banner.State != "serving" {
			t.Errorf("title %q, version %q (API: %q), banner %q", f.Title, f.Version, want, f.Banner.State)
		}
	})
	t.Run("Authorization header", func(t *testing.T) {
		ctx := tab()
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:demo-read-token"))
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
			t.Fatal(err)
		}
		load(t, ctx, "http://"+p.httpAddr+"/?refresh=0")
		if f := readFacts(t, ctx); f.Version != want {
			t.Errorf("version %q, want %q", f.Version, want)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		ctx := tab()
		// Chromium tries the URL's credentials once, then, with nobody
		// to ask for others, fails the navigation.
		_, err := chromedp.Run(ctx, chromedp.Navigate("http://x:not-a-token@"+p.httpAddr+"/?refresh=0"))
		if err == nil || !strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Errorf("with a wrong password: %v; the browser shows %q", err, text)
		}
	})
}

// statesConf is ctlConf with app failing closed, each cluster probed on
// port.
func statesConf(t *testing.T, dir string, port int) string {
	t.Helper()
	conf := ctlConf(t, dir)
	const ttl = "        ttl 5\n"
	if !strings.Contains(conf, ttl) {
		t.Fatal("ctlConf changed: update statesConf")
	}
	return strings.Replace(conf, ttl, fmt.Sprintf(ttl+`        fail closed
        health {
            kind     tcp
            port     %d
            interval 100ms
        }
`, port), 1)
}

// TestStatusPageStates walks one server through the normal, drained,
// degraded and fail-closed states, and checks in headless Chromium at
// 1,280 and 390 px wide that the status page shows each: the banner, the
// service's state, the map's and the cluster table's states, the targets
// not serving with their reasons and times, and no horizontal overflow.
// The screenshots go to $MERIDIAN_SCREENSHOTS when set.
func TestStatusPageStates(t *testing.T) {
	primary, secondary, port := listenPair(t)
	for _, ln := range []net.Listener{primary, secondary} {
		go func() { // accept and hang up: the TCP probe needs only the handshake
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	dir := t.TempDir()
	p := startMeridian(t, statesConf(t, dir, port))
	server := "http://" + p.httpAddr
	ctx := newBrowser(t)()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:read-secret"))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	url := server + "/?refresh=0"
	shots := os.Getenv("MERIDIAN_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}

	// reach reloads the page until its banner says state, then checks
	// it at both widths, taking a screenshot of each, and returns what
	// the wide page shows.
	reach := func(name, state string) pageFacts {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		var f pageFacts
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			load(t, ctx, url)
			if f = readFacts(t, ctx); f.Banner.State == state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the banner says %q (%s), want %s", name, f.Banner.State, f.Banner.Text, state)
			}
		}
		if v := apiPlanVersion(t, p.httpAddr, "read-secret"); f.Version != v || !hexVersion.MatchString(f.Version) {
			t.Errorf("%s: the page shows Plan %q, the API %q", name, f.Version, v)
		}
		if !relAgo.MatchString(f.PlanAt) || !strings.HasSuffix(f.PlanAtTitle, "Z") {
			t.Errorf("%s: decided %q, title %q: want a relative time, the date on hover", name, f.PlanAt, f.PlanAtTitle)
		}
		for _, width := range []int64{1280, 390} {
			if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(width, 900, chromedp.EmulateMobile)); err != nil {
				t.Fatal(err)
			}
			load(t, ctx, url)
			wf := readFacts(t, ctx)
			if wf.ScrollWidth > wf.InnerWidth || wf.InnerWidth != int(width) {
				t.Errorf("%s at %d px: the page is %d px wide in a %d px viewport", name, width, wf.ScrollWidth, wf.InnerWidth)
			}
			for sel, ok := range wf.Visible {
				if !ok && (sel != "#not-serving" || len(wf.NotServing) > 0) {
					t.Errorf("%s at %d px: %s is not within the page's width", name, width, sel)
				}
			}
			if wf.Banner.State != f.Banner.State {
				t.Errorf("%s at %d px: banner %q, at 1280 px %q", name, width, wf.Banner.State, f.Banner.State)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("%s: screenshot: %v", name, err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil || img.Bounds().Dx() != int(width) {
				t.Fatalf("%s: the screenshot at %d px: %v", name, width, err)
			}
			os.WriteFile(filepath.Join(shots, fmt.Sprintf("status-%s-%d.png", name, width)), shot, 0o644)
		}
		return f
	}
	const svc = "app.gslb.example.com"

	// Normal: everything serves.
	f := reach("normal", "serving")
	if f.Services[svc] != "serving" || f.Banner.Class != "ok" || f.Banner.Role != "" || !f.NoneListed || len(f.NotServing) != 0 {
		t.Errorf("normal: %+v", f)
	}
	for _, c := range []string{"primary", "secondary"} {
		if f.MapDots[c] != "reachable" || f.Clusters[c] != "reachable" {
			t.Errorf("normal: %s on the map %q, in the table %q", c, f.MapDots[c], f.Clusters[c])
		}
	}

	// Drained: primary shows so on the map, in the cluster table and in
	// the targets not serving; the service serves from secondary.
	if out, errOut, code := runCtl(t, server, "admin-secret", "drain", "primary", "-reason", "kernel upgrade", "-for", "1h"); code != 0 {
		t.Fatalf("ctl drain: %d %s%s", code, out, errOut)
	}
	f = reach("drained", "serving")
	if f.MapDots["primary"] != "drained" || f.Clusters["primary"] != "drained" || f.Clusters["secondary"] != "reachable" {
		t.Errorf("drained: map %v, table %v", f.MapDots, f.Clusters)
	}
	if len(f.NotServing) != 1 || f.NotServing[0].State != "drained" || f.NotServing[0].Address != primaryAddr ||
		!strings.Contains(f.NotServing[0].Reason, "kernel upgrade") || !relAgo.MatchString(f.NotServing[0].Since) || f.NotServing[0].SinceTitle == "" {
		t.Errorf("drained: not serving %+v", f.NotServing)
	}
	if len(f.Overrides) != 1 || !regexp.MustCompile(`^in (59 min \d+ s|1h 0m)$`).MatchString(f.Overrides[0].Expires) || f.Overrides[0].ExpiresTitle == "" {
		t.Errorf("drained: overrides %+v, want one expiring in an hour", f.Overrides)
	}
	if out, errOut, code := runCtl(t, server, "admin-secret", "undrain", "primary"); code != 0 {
		t.Fatalf("ctl undrain: %d %s%s", code, out, errOut)
	}

	// Degraded: primary's address is down.
	primary.Close()
	f = reach("degraded", "degraded")
	if f.Services[svc] != "degraded" || f.Banner.Class != "warn" || f.MapDots["primary"] != "down" || f.Clusters["primary"] != "down" || f.Clusters["secondary"] != "reachable" {
		t.Errorf("degraded: %+v", f)
	}
	if len(f.NotServing) != 1 || f.NotServing[0].State != "down" || f.NotServing[0].Cluster != "primary" ||
		!strings.Contains(f.NotServing[0].Reason, "refused") || !relAgo.MatchString(f.NotServing[0].Since) {
		t.Errorf("degraded: not serving %+v", f.NotServing)
	}

	// Fail closed: both are down; the banner cannot be missed, and the
	// gauge agrees.
	secondary.Close()
	f = reach("failclosed", "failing_closed")
	if f.Services[svc] != "failing_closed" || f.Banner.Class != "outage" || f.Banner.Role != "alert" || !f.Banner.Visible ||
		!strings.Contains(f.Banner.Text, svc+" (failing closed)") {
		t.Errorf("fail closed: %+v", f)
	}
	if len(f.NotServing) != 2 || f.NotServing[0].State != "down" || f.NotServing[1].State != "down" {
		t.Errorf("fail closed: not serving %+v", f.NotServing)
	}
	resp, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`meridian_services{state="failing_closed"} 1`, `meridian_services{state="serving"} 0`,
		`meridian_services{state="degraded"} 0`, `meridian_services{state="failing_open"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestPlanVersionSpelledOnce: the Plan version is the same 16 hex digits
// in the log, the API, `ctl status` and the status page.
func TestPlanVersionSpelledOnce(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	logged := map[string]bool{}
	for _, rec := range p.startup {
		if rec["msg"] == "plan published" {
			logged[rec["version"].(string)] = true
		}
	}
	var status struct {
		PlanVersion string `json:"plan_version"`
	}
	demoGet(t, p, "/api/v1/status", &status)
	out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "status")
	page := statusPageHTML(t, p, "demo-read-token")
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(status.PlanVersion) || !logged[status.PlanVersion] {
		t.Errorf("API plan_version %q; logged %v", status.PlanVersion, logged)
	}
	if code != 0 || !strings.Contains(out, status.PlanVersion) {
		t.Errorf("ctl status (exit %d) lacks %s:\n%s%s", code, status.PlanVersion, out, errOut)
	}
	if !strings.Contains(page, status.PlanVersion) {
		t.Errorf("the status page lacks %s", status.PlanVersion)
	}
}
