package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

//go:embed status.html
var statusHTML string

// worldMap is the land outline of the map, made by internal/genmap.
//
//go:generate go run ./internal/genmap -in=${WORLD_COUNTRIES_DATA} -out=worldmap.txt
//go:embed worldmap.txt
var worldMap string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusCSP is the page's Content-Security-Policy: nothing loads, nothing
// frames it, and the only style and script that run are the page's own
// inline elements, allowed by their SHA-256. The page draws colours and
// widths with SVG attributes, never style attributes, which a hash
// cannot allow. Editing an inline element updates its hash here;
// TestStatusPageHeaders checks the hashes against the page served.
var statusCSP = contentSecurityPolicy(statusHTML)

// inlineElement finds the content of inline <style> and <script> elements.
var inlineElement = regexp.MustCompile(`(?is)<(style|script)\b[^>]*>(.*?)</(?:style|script)>`)

func contentSecurityPolicy(page string) string {
	hashes := map[string][]string{"style": nil, "script": nil}
	for _, m := range inlineElement.FindAllStringSubmatch(page, -1) {
		sum := sha256.Sum256([]byte(m[2]))
		kind := strings.ToLower(m[1])
		hashes[kind] = append(hashes[kind], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	csp := "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	for _, kind := range []string{"style", "script"} {
		if len(hashes[kind]) > 0 {
			csp += "; " + kind + "-src " + strings.Join(hashes[kind], " ")
		}
	}
	return csp
}

// Map size: an equirectangular projection, two pixels per degree.
const (
	mapW = 720
	mapH = 360
)

// clusterPalette colours clusters in the bars, in name order.
var clusterPalette = [...]string{"#2f6fdf", "#e07b20", "#2a9d5c", "#9b4dca", "#d6336c", "#16a2b8", "#8c6d1f", "#5c6bc0"}

// Dot colours on the map.
const (
	colorReachable = "#137333"
	colorLost      = "#e0a800"
	colorStale     = "#b3261e"
)

type statusData struct {
	Refresh     int
	PlanVersion string
	PlanAt      string
	MapW, MapH  int
	Land        string
	Graticule   []string
	Clusters    []statusCluster
	Services    []statusService
	Overrides   []statusOverride
	// Replicas is shown when more than one replica is known.
	Replicas      []statusReplica
	Voters        []string // the live replicas, a column each in Disagreements
	Disagreements []statusDisagreement
	Quorum        string
}

type statusReplica struct {
	Name, State, Heartbeat, ReportAt string
	Self, Live                       bool
	Down, Unknown                    int
}

type statusDisagreement struct {
	Target, Decision, DecisionReason string
	Verdicts                         []statusVerdict
}

type statusVerdict struct {
	State, Reason string
}

type statusCluster struct {
	Name, Region, Zone, State string
	Reachable, Located        bool
	X, Y, LabelX, LabelY      int
	Color, BarColor           string
}

type statusService struct {
	Name, Policy            string
	Targets, Down, Excluded int
	Routes                  []statusRoute
}

type statusRoute struct {
	Site, Text string
	Segments   []statusSegment
}

type statusSegment struct {
	Cluster, Color, Label string
	Offset, Percent       float64 // where the segment starts and its width, in % of the bar
}

type statusOverride struct {
	ID, What, Reason, Author, Until string
}

// project places a point on the map.
func project(p model.Point) (x, y int) {
	return int((p.Lon + 180) * mapW / 360), int((90 - p.Lat) * mapH / 180)
}

// graticule draws every 30 degrees of latitude and longitude.
func graticule() []string {
	var out []string
	for lon := -150; lon <= 150; lon += 30 {
		x, _ := project(model.Point{Lon: float64(lon)})
		out = append(out, fmt.Sprintf("M%d 0V%d", x, mapH))
	}
	for lat := -60; lat <= 60; lat += 30 {
		_, y := project(model.Point{Lat: float64(lat)})
		out = append(out, fmt.Sprintf("M0 %dH%d", y, mapW))
	}
	return out
}

// statusPage renders the page from the current state.
func (a *v1) statusPage(w http.ResponseWriter, r *http.Request, _ string) {
	d := statusData{Refresh: 5, MapW: mapW, MapH: mapH, Land: strings.TrimSpace(worldMap), Graticule: graticule(), PlanVersion: "none yet", PlanAt: "-"}
	p := a.cfg.Plan()
	stale := map[string]bool{}
	if p != nil {
		d.PlanVersion, d.PlanAt = planVersion(p), p.At.UTC().Format(time.RFC3339)
		for _, s := range p.Services {
			for _, g := range s.Groups {
				stale[g.Cluster] = stale[g.Cluster] || g.Stale
			}
		}
	}
	barColor := map[string]string{}
	for i, c := range a.cfg.Inventory().Clusters() {
		sc := statusCluster{Name: c.Name, Region: c.Locality.Region, Zone: c.Locality.Zone, Reachable: c.LostAt.IsZero(),
			Located: c.HasLocation, Color: colorReachable, BarColor: clusterPalette[i%len(clusterPalette)], State: "reachable"}
		barColor[c.Name] = sc.BarColor
		if !sc.Reachable {
			sc.Color, sc.State = colorLost, "lost since "+c.LostAt.UTC().Format(time.RFC3339)
			if c.Resyncing {
				sc.State = "resyncing, " + sc.State
			}
			if stale[c.Name] {
				sc.Color, sc.State = colorStale, sc.State+", stale"
			}
		}
		if c.HasLocation {
			sc.X, sc.Y = project(c.Location)
			sc.LabelX, sc.LabelY = sc.X+10, sc.Y+4
		}
		d.Clusters = append(d.Clusters, sc)
	}
	if p != nil {
		for _, s := range p.Services {
			d.Services = append(d.Services, statusServiceOf(p, s, barColor))
		}
	}
	for _, o := range a.allOverrides() {
		j := OverrideOf(o)
		so := statusOverride{ID: o.ID, What: overrideWhat(j), Reason: o.Reason, Author: o.Author, Until: "never"}
		if !o.Expires.IsZero() {
			so.Until = o.Expires.UTC().Format(time.RFC3339)
		}
		d.Overrides = append(d.Overrides, so)
	}
	a.statusReplicas(&d)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", statusCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if err := statusTemplate.Execute(w, d); err != nil {
		a.cfg.Logger.Warn("status page", "err", err)
	}
}

// statusReplicas fills the Replicas section, when more than one replica
// is known: with one, there is nothing to compare.
func (a *v1) statusReplicas(d *statusData) {
	view := a.replicasView()
	if len(view.Replicas) < 2 {
		return
	}
	d.Quorum = view.Quorum
	stamp := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, r := range view.Replicas {
		sr := statusReplica{Name: r.Name, Self: r.Self, Live: r.Live, State: "live", Heartbeat: stamp(r.Heartbeat),
			ReportAt: stamp(r.ReportAt), Down: r.Down, Unknown: r.Unknown}
		if !r.Live {
			sr.State = "expired " + stamp(r.Expires)
		}
		if r.Live {
			d.Voters = append(d.Voters, r.Name)
		}
		d.Replicas = append(d.Replicas, sr)
	}
	for _, dj := range view.Disagreements {
		sd := statusDisagreement{Target: dj.Service + " " + dj.Cluster + " " + dj.Address, Decision: dj.Decision, DecisionReason: dj.DecisionReason}
		for _, v := range dj.Verdicts {
			sd.Verdicts = append(sd.Verdicts, statusVerdict{State: v.State, Reason: v.Reason})
		}
		d.Disagreements = append(d.Disagreements, sd)
	}
}

func statusServiceOf(p *model.Plan, s *model.ServicePlan, barColor map[string]string) statusService {
	ss := statusService{Name: s.Name, Policy: string(s.Policy.Kind), Targets: len(s.Targets)}
	for _, t := range s.Targets {
		switch t.Status {
		case model.Unhealthy:
			ss.Down++
		case model.Excluded:
			ss.Excluded++
		}
	}
	view := serviceOf(p, s)
	for _, rt := range view.Routes {
		sr := statusRoute{Site: rt.Site}
		if sr.Site == "" {
			sr.Site = "unknown locations"
		}
		var parts []string
		offset := 0.0
		for _, c := range slices.Sorted(maps.Keys(rt.Shares)) {
			pct := 100 * rt.Shares[c]
			sr.Segments = append(sr.Segments, statusSegment{Cluster: c, Color: barColor[c], Offset: offset, Percent: pct, Label: fmt.Sprintf("%.1f%%", pct)})
			offset += pct
			parts = append(parts, fmt.Sprintf("%s %.0f%%", c, pct))
		}
		sr.Text = strings.Join(parts, ", ")
		if len(parts) == 0 {
			sr.Text = "no traffic (" + rt.Mode + ")"
		}
		ss.Routes = append(ss.Routes, sr)
	}
	return ss
}

// overrideWhat says in words what an override does.
func overrideWhat(o Override) string {
	s := o.Kind
	for _, part := range []struct{ name, value string }{{"service", o.Service}, {"cluster", o.Cluster}, {"address", o.Address}} {
		if part.value != "" {
			s += " " + part.name + " " + part.value
		}
	}
	if o.Weight != nil {
		s += fmt.Sprintf(" weight %d", *o.Weight)
	}
	if len(o.Order) > 0 {
		s += " order " + strings.Join(o.Order, ", ")
	}
	return s
}
