package api

import (
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"net/http"
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
	Percent               float64
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
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, d); err != nil {
		a.cfg.Logger.Warn("status page", "err", err)
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
		for _, c := range slices.Sorted(maps.Keys(rt.Shares)) {
			pct := 100 * rt.Shares[c]
			sr.Segments = append(sr.Segments, statusSegment{Cluster: c, Color: barColor[c], Percent: pct, Label: fmt.Sprintf("%.1f%%", pct)})
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
