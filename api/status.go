package api

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"html/template"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
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

// clusterPalette colours clusters in the bars and the legend. A cluster's
// colour comes from its name (clusterColor), so that it stays the same
// when clusters come and go.
var clusterPalette = [...]string{"#2f6fdf", "#e07b20", "#2a9d5c", "#9b4dca", "#d6336c", "#16a2b8", "#8c6d1f",
	"#5c6bc0", "#c2410c", "#0f766e", "#a21caf", "#65a30d", "#475569"}

// clusterColor is a cluster's colour: its name's FNV-1a hash picks one of
// the palette.
func clusterColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return clusterPalette[h.Sum32()%uint32(len(clusterPalette))]
}

// Dot colours on the map, by the cluster's state, worst first.
const (
	colorStale     = "#b3261e" // lost past its grace period
	colorDown      = "#b3261e" // every target that should serve is down
	colorLost      = "#e0a800" // lost, still served from its last known state
	colorDegraded  = "#e0a800" // some targets down
	colorDrained   = "#80868b" // drained or disabled: no traffic on purpose
	colorReachable = "#137333"
)

type statusData struct {
	Refresh     int
	PlanVersion string
	PlanAt      statusTime
	MapW, MapH  int
	Land        string
	Graticule   []string
	// Banner sums up the worst: data-state is the worst service state.
	Banner        statusBanner
	Clusters      []statusCluster
	Services      []statusService
	NotServing    []statusTarget
	Overrides     []statusOverride
	Disagreements []statusDisagreement
	// Replicas is shown when more than one replica is known.
	Replicas []statusReplica
	Voters   []string // the live replicas, a column each in Disagreements
	Quorum   string
}

// statusTime is a moment as the page shows it: relative to the page's
// time ("4 s ago", "in 1h 12m"), with the absolute time (RFC 3339, UTC)
// on hover.
type statusTime struct {
	Rel, Abs string
}

type statusBanner struct {
	State, Class, Text string
}

type statusReplica struct {
	Name, State         string
	Heartbeat, ReportAt statusTime
	Self, Live          bool
	Down, Unknown       int
}

type statusDisagreement struct {
	Target, Decision, DecisionReason string
	Verdicts                         []statusVerdict
}

type statusVerdict struct {
	State, Reason string
}

type statusCluster struct {
	Name, Region, Zone string
	// State is the cluster's state in words; Key is its worst part, as
	// data-state: reachable, drained, degraded, down, lost or stale.
	State, Key           string
	Class                string // ok, muted or bad
	Located              bool
	X, Y, LabelX, LabelY int
	LabelAnchor          string // SVG text-anchor of the label: start, or end near the map's east edge
	Color, BarColor      string
}

type statusService struct {
	Name, Policy                     string
	State, StateLabel                string
	state                            model.ServiceState
	Targets, Healthy, Down, Excluded int
	Routes                           []statusRoute
}

type statusRoute struct {
	Site, Text string
	Segments   []statusSegment
}

type statusSegment struct {
	Cluster, Color, Label string
	Offset, Percent       float64 // where the segment starts and its width, in % of the bar
}

// statusTarget is a target that does not serve.
type statusTarget struct {
	Service, Cluster, Address string
	// State is down, no ready pods, stale, disabled, drained, weight 0
	// or not in policy; Class colours it.
	State, Class, Reason string
	Since                statusTime
	rank                 int
	serviceState         model.ServiceState
	since                time.Time
}

type statusOverride struct {
	ID, What, Reason, Author string
	Created, Until           statusTime
}

// relTime spells t relative to now, and absolutely for the title.
func relTime(t, now time.Time) statusTime {
	if t.IsZero() {
		return statusTime{Rel: "-"}
	}
	abs := t.UTC().Format(time.RFC3339)
	d := now.Sub(t)
	switch {
	case d >= 0:
		return statusTime{Rel: span(d) + " ago", Abs: abs}
	default:
		return statusTime{Rel: "in " + span(-d), Abs: abs}
	}
}

// span spells a duration in its two largest units: "4 s", "3 min 12 s",
// "1h 12m", "2d 3h".
func span(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
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

// statusRefresh is how often the page reloads itself, in seconds, unless
// ?refresh=N says otherwise (0: never, up to an hour).
const statusRefresh = 5

// statusPage renders the page from the current state.
func (a *v1) statusPage(w http.ResponseWriter, r *http.Request, _ string) {
	now := a.cfg.Now()
	d := statusData{Refresh: statusRefresh, MapW: mapW, MapH: mapH, Land: strings.TrimSpace(worldMap), Graticule: graticule(),
		PlanVersion: "none yet", PlanAt: statusTime{Rel: "-"}}
	if v := r.URL.Query().Get("refresh"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 3600 {
			d.Refresh = n
		}
	}
	p := a.cfg.Plan()
	if p != nil {
		d.PlanVersion, d.PlanAt = p.VersionText(), relTime(p.At, now)
		health := a.cfg.Health()
		for _, s := range p.Services {
			d.Services = append(d.Services, statusServiceOf(p, s))
			d.NotServing = append(d.NotServing, notServing(p, s, health, now)...)
		}
		slices.SortStableFunc(d.NotServing, func(x, y statusTarget) int {
			return cmp.Or(-cmp.Compare(x.serviceState, y.serviceState), cmp.Compare(x.rank, y.rank),
				compareSince(x.since, y.since), cmp.Compare(x.Service, y.Service), cmp.Compare(x.Cluster, y.Cluster))
		})
	}
	d.Banner = banner(p, d.Services)
	for _, c := range a.cfg.Inventory().Clusters() {
		d.Clusters = append(d.Clusters, statusClusterOf(c, p, now))
	}
	for _, o := range a.allOverrides() {
		j := OverrideOf(o)
		so := statusOverride{ID: o.ID, What: overrideWhat(j), Reason: o.Reason, Author: o.Author,
			Created: relTime(o.Created, now), Until: relTime(o.Expires, now)}
		if o.Expires.IsZero() {
			so.Until.Rel = "never"
		}
		d.Overrides = append(d.Overrides, so)
	}
	a.statusReplicas(&d, now)
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

// compareSince orders the oldest first, unknown times last.
func compareSince(x, y time.Time) int {
	if x.IsZero() || y.IsZero() {
		return cmp.Compare(btoi(x.IsZero()), btoi(y.IsZero()))
	}
	return x.Compare(y)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// banner sums up the services: an outage when any has no healthy target.
func banner(p *model.Plan, services []statusService) statusBanner {
	if p == nil {
		return statusBanner{State: "none", Class: "warn", Text: "No Plan published yet: DNS and xDS serve nothing."}
	}
	worst := model.Serving
	for _, s := range services {
		worst = max(worst, s.state)
	}
	// The services in the worst state, or failing open or closed.
	var names []string
	for _, s := range services {
		if s.state == worst || worst.Failing() && s.state.Failing() {
			names = append(names, s.Name+" ("+s.State+")")
		}
	}
	b := statusBanner{State: worst.Label(), Class: "warn"}
	what := fmt.Sprintf("%d of %d services", len(names), len(services))
	if len(services) == 1 {
		what = "the only service"
	}
	switch {
	case worst.Failing():
		b.Class, b.Text = "outage", fmt.Sprintf("Outage: no healthy target in %s: %s.", what, strings.Join(names, ", "))
	case worst == model.Degraded:
		b.Text = fmt.Sprintf("Degraded: %s: %s.", what, strings.Join(names, ", "))
	case len(services) == 0:
		b.Text = "No global services."
	default:
		b.Class, b.Text = "ok", fmt.Sprintf("Every service serving (%d).", len(services))
	}
	return b
}

// statusClusterOf says how a cluster is: reachable or lost, and whether
// its targets serve, are down, or were drained or disabled.
func statusClusterOf(c model.Cluster, p *model.Plan, now time.Time) statusCluster {
	sc := statusCluster{Name: c.Name, Region: c.Locality.Region, Zone: c.Locality.Zone, Located: c.Location.Known(), BarColor: clusterColor(c.Name)}
	var total, excluded, disabled, down, stale int
	if p != nil {
		for _, s := range p.Services {
			for _, g := range s.Groups {
				if g.Cluster != c.Name {
					continue
				}
				for _, t := range s.Targets[g.First : g.First+g.N] {
					total++
					switch {
					case t.Status == model.Excluded && t.Cause == model.CauseDisabled:
						excluded++
						disabled++
					case t.Status == model.Excluded && t.Cause != model.CauseNotListed:
						excluded++
					case t.Status == model.Unhealthy:
						down++
					}
				}
				if g.Stale {
					stale++
				}
			}
		}
	}
	var words []string
	key := "reachable"
	switch {
	case c.LostAt.IsZero():
		words = append(words, "reachable")
	case stale > 0:
		key = "stale"
		words = append(words, "lost "+relTime(c.LostAt, now).Rel+", stale: its targets count as unknown")
	default:
		key = "lost"
		words = append(words, "lost "+relTime(c.LostAt, now).Rel+", last known state kept")
	}
	if c.Resyncing {
		words = append(words, "resyncing")
	}
	serving := total - excluded
	switch {
	case total > 0 && excluded == total && disabled == total:
		words = append(words, "disabled")
	case total > 0 && excluded == total:
		words = append(words, "drained")
	case excluded > 0:
		words = append(words, fmt.Sprintf("%d of %d targets drained or disabled", excluded, total))
	}
	switch {
	case serving > 0 && down == serving && excluded == 0:
		words = append(words, "every target down")
	case serving > 0 && down == serving:
		words = append(words, fmt.Sprintf("the other %d down", down))
	case down > 0:
		words = append(words, fmt.Sprintf("%d of %d targets down", down, total))
	}
	switch {
	case key == "stale":
	case serving > 0 && down == serving:
		key = "down"
	case key == "lost":
	case down > 0:
		key = "degraded"
	case total > 0 && excluded == total:
		key = map[bool]string{true: "disabled", false: "drained"}[disabled == total]
	}
	sc.Key, sc.State = key, strings.Join(words, ", ")
	sc.Color, sc.Class = map[string]string{"stale": colorStale, "down": colorDown, "lost": colorLost, "degraded": colorDegraded,
		"drained": colorDrained, "disabled": colorDrained, "reachable": colorReachable}[key], "bad"
	switch key {
	case "reachable":
		sc.Class = "ok"
	case "drained", "disabled":
		sc.Class = "muted"
	}
	if p, ok := c.Location.Point(); ok {
		sc.X, sc.Y = project(p)
		sc.LabelX, sc.LabelY, sc.LabelAnchor = sc.X+10, sc.Y+4, "start"
		if sc.X > mapW*2/3 { // east of the Indian Ocean: the label goes west of its dot, inside the map
			sc.LabelX, sc.LabelAnchor = sc.X-10, "end"
		}
	}
	return sc
}

// notServing lists a service's targets that get no traffic in the normal
// course, or get it only from a lost cluster's last known state, worst
// first: down, without pods, stale, disabled, drained, left out by the
// policy.
func notServing(p *model.Plan, s *model.ServicePlan, health model.Health, now time.Time) []statusTarget {
	state := s.State()
	verdicts := health.Of(s.Name)
	var out []statusTarget
	for _, t := range s.Targets {
		if t.Status == model.Healthy && t.Cause != model.CauseStale {
			continue
		}
		g := s.Groups[t.Group]
		st := statusTarget{Service: s.Name, Cluster: g.Cluster, Address: t.Address.String(), serviceState: state, Class: "bad"}
		var ovr *model.Override
		if t.Override >= 0 && int(t.Override) < len(p.Overrides) {
			ovr = &p.Overrides[t.Override]
		}
		switch {
		case t.Cause == model.CauseStale:
			st.rank, st.State, st.Class, st.since = 2, "stale", "warn", g.LostAt
			st.Reason = "cluster lost past its grace period: served as if healthy, from its last known state"
		case t.Status == model.Unhealthy && t.Cause == model.CauseNoPods:
			st.rank, st.State, st.Reason = 1, "no ready pods", fmt.Sprintf("no ready pods behind the address (%d not ready)", g.NotReadyPods)
		case t.Status == model.Unhealthy:
			st.rank, st.State, st.Reason = 0, "down", "health checks fail"
			key := model.TargetHealth{Cluster: g.Cluster, Address: t.Address}
			if j, ok := slices.BinarySearchFunc(verdicts, key, func(v, k model.TargetHealth) int {
				return cmp.Or(cmp.Compare(v.Cluster, k.Cluster), v.Address.Compare(k.Address))
			}); ok {
				st.since = verdicts[j].Since
				if verdicts[j].Reason != "" {
					st.Reason = verdicts[j].Reason
				}
			}
		case t.Cause == model.CauseDisabled:
			st.rank, st.State, st.Class = 3, "disabled", "muted"
		case t.Cause == model.CauseDrained:
			st.rank, st.State, st.Class = 4, "drained", "muted"
		case t.Cause == model.CauseWeight:
			st.rank, st.State, st.Class = 4, "weight 0", "muted"
		case t.Cause == model.CauseNotListed:
			st.rank, st.State, st.Class, st.Reason = 5, "not in policy", "muted", "the service's failover order does not list "+g.Cluster
		default:
			st.rank, st.State = 6, t.Status.String()
		}
		if ovr != nil && t.Status == model.Excluded {
			st.since = ovr.Created
			st.Reason = fmt.Sprintf("%s (override %s by %s", cmp.Or(ovr.Reason, "no reason given"), ovr.ID, cmp.Or(ovr.Author, "config"))
			if !ovr.Expires.IsZero() {
				st.Reason += ", expires " + relTime(ovr.Expires, now).Rel
			}
			st.Reason += ")"
		}
		st.Since = relTime(st.since, now)
		out = append(out, st)
	}
	return out
}

// statusReplicas fills the Replicas section, when more than one replica
// is known: with one, there is nothing to compare.
func (a *v1) statusReplicas(d *statusData, now time.Time) {
	view := a.replicasView()
	if len(view.Replicas) < 2 {
		return
	}
	d.Quorum = view.Quorum
	stamp := func(t *time.Time) statusTime {
		if t == nil {
			return statusTime{Rel: "-"}
		}
		return relTime(*t, now)
	}
	for _, r := range view.Replicas {
		sr := statusReplica{Name: r.Name, Self: r.Self, Live: r.Live, State: "live", Heartbeat: stamp(r.Heartbeat),
			ReportAt: stamp(r.ReportAt), Down: r.Down, Unknown: r.Unknown}
		if !r.Live {
			sr.State = "expired " + stamp(r.Expires).Rel
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

func statusServiceOf(p *model.Plan, s *model.ServicePlan) statusService {
	st := s.State()
	ss := statusService{Name: s.Name, Policy: string(s.Policy.Kind), Targets: len(s.Targets), State: st.String(), StateLabel: st.Label(), state: st}
	if s.Policy.FailClosed {
		ss.Policy += ", fail closed"
	}
	for _, t := range s.Targets {
		switch t.Status {
		case model.Healthy:
			ss.Healthy++
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
			sr.Segments = append(sr.Segments, statusSegment{Cluster: c, Color: clusterColor(c), Offset: offset, Percent: pct, Label: fmt.Sprintf("%.1f%%", pct)})
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
