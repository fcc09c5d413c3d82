package api

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/model"
)

// V1Config connects /api/v1 to the rest of the process.
type V1Config struct {
	Tokens *Tokens
	Store  Store
	Audit  *AuditLog // nil: writes are not audited
	// Plan, Inventory and Health return the current values.
	Plan      func() *model.Plan
	Inventory func() model.Inventory
	Health    func() model.Health
	// ConfigOverrides are the overrides of the config file, read-only here.
	ConfigOverrides func() []model.Override
	// Apply receives every override (config and store) after a write and
	// returns once a Plan with them is in force.
	Apply func(context.Context, model.Overrides) error
	// Preview solves the current inputs with other overrides (dry runs).
	Preview func(model.Overrides) *model.Plan
	// Locate finds where a client address is, for explain: the Client
	// that DNS would place for it (address, location, country, continent).
	Locate func(netip.Addr) model.Client
	// History, when set, holds the latest health verdict changes.
	History *HealthHistory
	// Replica is this replica's name, as the config's replica directive
	// gives it.
	Replica string
	// Replicas returns every replica's probe report known here, this
	// one's included (Self); nil when health is not shared, and then
	// /api/v1/replicas lists this replica alone, with its own verdicts.
	Replicas func() []model.ReplicaReport
	// Quorum is the health_quorum rule in force, as the config spells it
	// ("majority", "any", "all", "82%"); nil when health is not shared.
	Quorum func() string
	// Zones returns the origins of the DNS zones served (lower case,
	// without the final dot); nil: none.
	Zones func() []string
	// NACKs returns the latest responses xDS clients rejected.
	NACKs func() []NACK
	// DNSSEC returns the keys of a signed zone (origin without final
	// dot), false when the zone is not served or not signed.
	DNSSEC func(zone string) ([]DNSSECKey, bool)
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics, when set, registers the API's metrics:
	// meridian_api_auth_failures_total.
	Metrics prometheus.Registerer
}

// NACK is a response an xDS client rejected, as the API shows it.
type NACK struct {
	At      time.Time `json:"at"`
	Node    string    `json:"node"`
	Group   string    `json:"group"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Detail  string    `json:"detail"`
}

// DNSSECKey is one key of a signed zone, as the API shows it.
type DNSSECKey struct {
	Tag       uint16 `json:"tag"`
	Algorithm uint8  `json:"algorithm"`
	Flags     uint16 `json:"flags"`
	// Role is csk (combined), ksk or zsk.
	Role   string `json:"role"`
	DNSKEY string `json:"dnskey"`
	// DS is the record to give the parent zone, for a key-signing key.
	DS string `json:"ds,omitempty"`
}

// configPrefix starts the IDs of the config file's overrides, which the
// API cannot change.
const configPrefix = "config."

// v1 serves /api/v1.
type v1 struct {
	cfg V1Config
	mu  sync.Mutex // serializes writes, so that before/after in the audit log are exact

	authFailures *prometheus.CounterVec // by reason: missing, invalid, forbidden
	authLog      logLimiter
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, apiError{Error: msg, Field: field})
}

// route is one endpoint of /api/v1, as the OpenAPI document lists it.
type route struct {
	method, path string
	role         Role // 0: no token needed
	handle       func(a *v1, w http.ResponseWriter, r *http.Request, who string)
}

// v1Routes are every endpoint; TestOpenAPIMatchesRoutes keeps the
// document in step.
var v1Routes = []route{
	{"GET", "/api/v1/openapi.json", 0, func(_ *v1, w http.ResponseWriter, _ *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	}},
	{"GET", "/api/v1/status", ReadRole, (*v1).status},
	{"GET", "/api/v1/clusters", ReadRole, (*v1).clusters},
	{"GET", "/api/v1/services", ReadRole, (*v1).services},
	{"GET", "/api/v1/services/{name}", ReadRole, (*v1).service},
	{"GET", "/api/v1/health", ReadRole, (*v1).health},
	{"GET", "/api/v1/health/history", ReadRole, (*v1).healthHistory},
	{"GET", "/api/v1/overrides", ReadRole, (*v1).overrides},
	{"GET", "/api/v1/overrides/{id}", ReadRole, (*v1).override},
	{"PUT", "/api/v1/overrides/{id}", AdminRole, (*v1).putOverride},
	{"DELETE", "/api/v1/overrides/{id}", AdminRole, (*v1).deleteOverride},
	{"GET", "/api/v1/explain", ReadRole, (*v1).explain},
	{"GET", "/api/v1/replicas", ReadRole, (*v1).replicas},
	{"GET", "/api/v1/nacks", ReadRole, (*v1).nacks},
	{"GET", "/api/v1/zones", ReadRole, (*v1).zones},
	{"GET", "/api/v1/dnssec/{zone}", ReadRole, (*v1).dnssec},
	{"GET", "/api/v1/audit", ReadRole, (*v1).auditLog},
}

// routes registers the API on mux, its metrics on the registry of the
// config, and logs what is wrong with the tokens file.
func (a *v1) routes(mux *http.ServeMux) {
	a.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_api_auth_failures_total",
		Help: "Requests to the API refused for want of a valid token (missing, invalid) or of its role (forbidden).",
	}, []string{"reason"})
	if a.cfg.Metrics != nil {
		if err := a.cfg.Metrics.Register(a.authFailures); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
			a.authFailures = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	a.authLog.every = authLogEvery
	if a.cfg.Tokens != nil {
		for _, w := range a.cfg.Tokens.Warnings() {
			a.cfg.Logger.Warn(w)
		}
	}
	for _, rt := range v1Routes {
		h := func(w http.ResponseWriter, r *http.Request) { rt.handle(a, w, r, "") }
		if rt.role != 0 {
			h = a.auth(rt.role, func(w http.ResponseWriter, r *http.Request, who string) { rt.handle(a, w, r, who) })
		}
		mux.HandleFunc(rt.method+" "+rt.path, h)
	}
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+"; see /api/v1/openapi.json", "")
	})
	mux.HandleFunc("GET /{$}", a.auth(ReadRole, a.statusPage))
}

// auth lets a request through when its token has at least role.
func (a *v1) auth(role Role, h func(w http.ResponseWriter, r *http.Request, who string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, has, presented := a.cfg.Tokens.identify(r)
		switch {
		case has == 0:
			a.authFailed(r, map[bool]string{false: "missing", true: "invalid"}[presented], "")
			// Two challenges in two header fields: Chromium reads one
			// challenge per field, so with both in one field it saw only
			// Bearer, which it cannot answer, and neither prompted nor
			// used the credentials of the URL. With one field each it
			// answers Basic in either order (RFC 9110 11.6.1: the client
			// picks the strongest scheme it knows); Basic comes first
			// for clients that try only the first.
			w.Header().Add("WWW-Authenticate", `Basic realm="meridian", charset="UTF-8"`)
			w.Header().Add("WWW-Authenticate", `Bearer realm="meridian"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer TOKEN; browsers: the token as the password, any user name)", "")
		case has < role:
			a.authFailed(r, "forbidden", who)
			writeError(w, http.StatusForbidden, "token "+who+" has role "+has.String()+"; this needs "+role.String(), "")
		default:
			h(w, r, who)
		}
	}
}

// authFailed counts a refused request and logs it, at most once per
// authLogEvery with the count of those not logged since.
func (a *v1) authFailed(r *http.Request, reason, who string) {
	a.authFailures.WithLabelValues(reason).Inc()
	if ok, suppressed := a.authLog.allow(a.cfg.Now()); ok {
		a.cfg.Logger.Warn("api request refused", "reason", reason, "token", who, "remote", r.RemoteAddr,
			"method", r.Method, "path", r.URL.Path, "suppressed_since_last", suppressed)
	}
}

// planOr503 returns the current Plan, or answers 503 when there is none yet.
func (a *v1) planOr503(w http.ResponseWriter) *model.Plan {
	p := a.cfg.Plan()
	if p == nil {
		writeError(w, http.StatusServiceUnavailable, "no plan published yet", "")
	}
	return p
}

type statusJSON struct {
	PlanVersion string            `json:"plan_version"`
	PlanAt      time.Time         `json:"plan_at"`
	Services    int               `json:"services"`
	Clusters    int               `json:"clusters"`
	Overrides   int               `json:"overrides"`
	Replicas    replicaCountsJSON `json:"replicas"`
}

// replicaCountsJSON sums up /api/v1/replicas in the status.
type replicaCountsJSON struct {
	Live          int `json:"live"`
	Total         int `json:"total"`
	Disagreements int `json:"disagreements"`
}

func (a *v1) status(w http.ResponseWriter, r *http.Request, _ string) {
	p := a.planOr503(w)
	if p == nil {
		return
	}
	counts := replicaCountsJSON{Live: 1, Total: 1}
	if reports, now, shared := a.replicaReports(); shared {
		counts = replicaCountsJSON{Total: len(reports), Disagreements: len(model.Disagreements(reports, now))}
		for _, rr := range reports {
			if rr.Live(now) {
				counts.Live++
			}
		}
	}
	writeJSON(w, http.StatusOK, statusJSON{PlanVersion: planVersion(p), PlanAt: p.At.UTC(), Services: len(p.Services),
		Clusters: len(a.cfg.Inventory().Clusters()), Overrides: len(a.allOverrides()), Replicas: counts})
}

func planVersion(p *model.Plan) string { return p.VersionText() }

type locationJSON struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type clusterJSON struct {
	Name      string        `json:"name"`
	Region    string        `json:"region"`
	Zone      string        `json:"zone"`
	Location  *locationJSON `json:"location"`
	Reachable bool          `json:"reachable"`
	LostAt    *time.Time    `json:"lost_at,omitempty"`
	Resyncing bool          `json:"resyncing,omitempty"` // answers again; listing afresh
	Stale     bool          `json:"stale"`
}

func (a *v1) clusters(w http.ResponseWriter, r *http.Request, _ string) {
	stale := map[string]bool{}
	if p := a.cfg.Plan(); p != nil {
		for _, s := range p.Services {
			for _, g := range s.Groups {
				stale[g.Cluster] = stale[g.Cluster] || g.Stale
			}
		}
	}
	out := []clusterJSON{}
	for _, c := range a.cfg.Inventory().Clusters() {
		cj := clusterJSON{Name: c.Name, Region: c.Locality.Region, Zone: c.Locality.Zone, Reachable: c.LostAt.IsZero(), Resyncing: c.Resyncing, Stale: stale[c.Name]}
		if p, ok := c.Location.Point(); ok {
			cj.Location = &locationJSON{p.Lat, p.Lon}
		}
		if !c.LostAt.IsZero() {
			t := c.LostAt.UTC()
			cj.LostAt = &t
		}
		out = append(out, cj)
	}
	writeJSON(w, http.StatusOK, out)
}

type targetJSON struct {
	Cluster string `json:"cluster"`
	Address string `json:"address"`
	Weight  uint32 `json:"weight"`
	Health  string `json:"health"`
	Status  string `json:"status"`
}

// routeJSON is the traffic of the clients nearest one site (or of unknown
// location, site ""), as shares per cluster.
type routeJSON struct {
	Site string `json:"site"`
	// Clusters is, for the route of subnet-list entries, their cluster
	// list; Entry names the map entry of a map's route.
	Clusters []string           `json:"clusters,omitempty"`
	Entry    string             `json:"entry,omitempty"`
	Region   string             `json:"region"`
	Mode     string             `json:"mode"`
	Shares   map[string]float64 `json:"shares"`
}

type serviceJSON struct {
	Name    string       `json:"name"`
	Policy  string       `json:"policy"`
	Targets []targetJSON `json:"targets"`
	Routes  []routeJSON  `json:"routes"`
}

func serviceOf(p *model.Plan, s *model.ServicePlan) serviceJSON {
	sj := serviceJSON{Name: s.Name, Policy: string(s.Policy.Kind), Targets: []targetJSON{}, Routes: []routeJSON{}}
	for i, t := range s.Targets {
		sj.Targets = append(sj.Targets, targetJSON{Cluster: s.ClusterOf(i), Address: t.Address.String(), Weight: t.Weight,
			Health: t.Health.String(), Status: t.Status.String()})
	}
	for b := range s.Routes {
		rj := routeJSON{Shares: map[string]float64{}}
		if b < len(p.Sites) {
			rj.Site, rj.Region = p.Sites[b].Cluster, p.Sites[b].Locality.Region
		}
		if j := b - len(p.Sites) - 1; j >= 0 && j < len(p.NetLists) {
			rj.Clusters = p.NetLists[j]
		}
		if e := b - p.Buckets(); e >= 0 && e < len(s.Policy.Map) {
			rj.Entry, rj.Clusters = s.Policy.Map[e].Describe(), s.Policy.Map[e].Clusters
		}
		rt := s.Route(b)
		rj.Mode = rt.Mode.String()
		for _, sh := range rt.Shares {
			rj.Shares[s.ClusterOf(sh.Target)] += sh.Fraction
		}
		sj.Routes = append(sj.Routes, rj)
	}
	return sj
}

func (a *v1) services(w http.ResponseWriter, r *http.Request, _ string) {
	p := a.planOr503(w)
	if p == nil {
		return
	}
	out := []serviceJSON{}
	for _, s := range p.Services {
		out = append(out, serviceOf(p, s))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *v1) service(w http.ResponseWriter, r *http.Request, _ string) {
	p := a.planOr503(w)
	if p == nil {
		return
	}
	s, ok := p.Service(model.CanonicalName(r.PathValue("name")))
	if !ok {
		writeError(w, http.StatusNotFound, "no global service "+r.PathValue("name"), "name")
		return
	}
	writeJSON(w, http.StatusOK, serviceOf(p, s))
}

type verdictJSON struct {
	Service string    `json:"service"`
	Cluster string    `json:"cluster"`
	Address string    `json:"address"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason"`
}

func (a *v1) health(w http.ResponseWriter, r *http.Request, _ string) {
	out := []verdictJSON{}
	for _, v := range a.cfg.Health().Targets() {
		out = append(out, verdictJSON{Service: v.Service, Cluster: v.Cluster, Address: v.Address.String(), State: v.State.String(), Since: v.Since.UTC(), Reason: v.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *v1) healthHistory(w http.ResponseWriter, r *http.Request, _ string) {
	out := []HealthChange{}
	if a.cfg.History != nil {
		out = a.cfg.History.Changes()
	}
	writeJSON(w, http.StatusOK, out)
}

// allOverrides returns the config's overrides and the store's that are in
// force, by ID: an expired one stays in the store until the next write,
// but the engine already ignores it, and so do the API, ctl and the page.
func (a *v1) allOverrides() []model.Override {
	now := a.cfg.Now()
	out := slices.DeleteFunc(append(slices.Clone(a.cfg.ConfigOverrides()), a.cfg.Store.List()...),
		func(o model.Override) bool { return !o.ActiveAt(now) })
	slices.SortFunc(out, func(x, y model.Override) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

func (a *v1) overrides(w http.ResponseWriter, r *http.Request, _ string) {
	out := []Override{}
	for _, o := range a.allOverrides() {
		out = append(out, OverrideOf(o))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *v1) override(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	for _, o := range a.allOverrides() {
		if o.ID == id {
			writeJSON(w, http.StatusOK, OverrideOf(o))
			return
		}
	}
	writeError(w, http.StatusNotFound, "no override "+id, "id")
}

// known returns the services and clusters overrides may name.
func (a *v1) known() Known {
	k := Known{Services: map[string]bool{}, Clusters: map[string]bool{}}
	inv := a.cfg.Inventory()
	for _, c := range inv.Clusters() {
		k.Clusters[c.Name] = true
	}
	for _, b := range inv.Backends() {
		for _, addrs := range [][]netip.Addr{b.Ingress, b.PodIPs} {
			for _, ad := range addrs {
				k.Targets = append(k.Targets, KnownTarget{Service: b.Service, Cluster: b.Cluster, Address: ad.Unmap()})
			}
		}
	}
	if p := a.cfg.Plan(); p != nil {
		for _, s := range p.Services {
			k.Services[s.Name] = true
		}
	}
	return k
}

// maxBody bounds the body of a write.
const maxBody = 64 << 10

// errTooLarge is a body over maxBody, answered with 413.
var errTooLarge = &fieldError{msg: fmt.Sprintf("the body is larger than %d bytes", maxBody)}

// decodeStrict reads one JSON value of at most maxBody bytes, rejecting
// unknown fields, keys given twice and trailing data.
func decodeStrict(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalid("", "reading the body: %v", err)
	}
	if len(b) > maxBody {
		return errTooLarge
	}
	if err := checkDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return invalid(strings.Trim(f, `"`), "unknown field")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := te.Field[strings.LastIndex(te.Field, ".")+1:] // OverrideSpec.weight
			if field == "weight" {
				return invalid("weight", "expected a whole number from 0 to %d, got %s", MaxWeight, te.Value)
			}
			return invalid(field, "expected %s, got %s", te.Type, te.Value)
		}
		return invalid("", "the body is not a valid override: %v", err)
	}
	if dec.More() {
		return invalid("", "the body holds more than one JSON value")
	}
	return nil
}

// checkDuplicateKeys refuses a JSON object that gives a key twice: which
// of the two values counts differs from one parser to the next, so the
// override stored could differ from the one the client meant. Syntax
// errors are left to the decoder.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil
				}
				key, _ := k.(string)
				// encoding/json matches keys regardless of case.
				if seen[strings.ToLower(key)] {
					return invalid(path+key, "given twice")
				}
				seen[strings.ToLower(key)] = true
				if err := walk(path + key + "."); err != nil {
					return err
				}
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(path); err != nil {
					return err
				}
			}
			dec.Token()
		}
		return nil
	}
	return walk("")
}

// boolParam reads the boolean query parameter name: absent is false;
// anything strconv.ParseBool reads is that value (1, t, true, TRUE, True
// are true); anything else, an empty value (a bare ?dry_run) or the
// parameter given twice is an error, because guessing wrong would turn a
// dry run into a real write.
func boolParam(r *http.Request, name string) (bool, error) {
	vals, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	if len(vals) == 1 {
		if v, err := strconv.ParseBool(vals[0]); err == nil {
			return v, nil
		}
	}
	return false, invalid(name, "want true or false")
}

// planChange is how one route's shares move with a write.
type planChange struct {
	Service string  `json:"service"`
	Site    string  `json:"site"`
	Cluster string  `json:"cluster"`
	Before  float64 `json:"before"`
	After   float64 `json:"after"`
}

// writeResult answers a write: the override as stored (or removed), and
// the shares that moved (for a dry run, that would move).
type writeResult struct {
	DryRun   bool         `json:"dry_run"`
	Override *Override    `json:"override,omitempty"`
	Changes  []planChange `json:"changes"`
}

// dryRunParam reads a write's one query parameter, dry_run. Any other
// (DRY_RUN, dryrun, dry-run) is refused: a misspelt dry run must not be
// taken for a real write.
func dryRunParam(r *http.Request) (bool, error) {
	for name := range r.URL.Query() {
		if name != "dry_run" {
			return false, invalid(name, "unknown query parameter; a write takes only dry_run")
		}
	}
	return boolParam(r, "dry_run")
}

func (a *v1) putOverride(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	dryRun, err := dryRunParam(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := checkID(id); err != nil {
		a.fail(w, err)
		return
	}
	if strings.HasPrefix(id, configPrefix) {
		writeError(w, http.StatusConflict, "ids starting with "+configPrefix+" belong to the config file's overrides", "id")
		return
	}
	var req OverrideRequest
	if err := decodeStrict(r, &req); err != nil {
		a.fail(w, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	o, err := req.toModel(id, who, a.cfg.Now(), a.known())
	if err != nil {
		a.fail(w, err)
		return
	}
	var before *model.Override
	for _, x := range a.cfg.Store.List() {
		if x.ID == id {
			before = &x
		}
	}
	if before != nil && sameOverride(*before, o) {
		o = *before // idempotent: the same PUT again changes nothing
	}
	next := a.withOverride(id, &o)
	if dryRun {
		out := OverrideOf(o)
		writeJSON(w, http.StatusOK, writeResult{DryRun: true, Override: &out, Changes: a.diff(next)})
		return
	}
	status := http.StatusCreated
	if before != nil {
		status = http.StatusOK
		if sameOverride(*before, o) && before.Created.Equal(o.Created) {
			out := OverrideOf(o)
			writeJSON(w, status, writeResult{Override: &out, Changes: []planChange{}})
			return
		}
	}
	// The audit record is synced before the store is written: an
	// acknowledged write is always audited, and a write that cannot be
	// audited is not made.
	rec, err := a.record(who, "put-override", id, before, &o)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the override was not stored: "+err.Error(), "")
		return
	}
	if _, err := a.cfg.Store.Put(o); err != nil {
		a.cfg.Logger.Error("storing an override failed", "id", id, "err", err)
		a.recordFailure(rec, err)
		writeError(w, http.StatusInternalServerError, "the override was not stored: "+err.Error(), "")
		return
	}
	a.logChange(rec, o)
	after := OverrideOf(o)
	writeJSON(w, status, writeResult{Override: &after, Changes: a.applied(r.Context(), id, next)})
}

func (a *v1) deleteOverride(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	dryRun, err := dryRunParam(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var before *model.Override
	for _, x := range a.cfg.Store.List() {
		if x.ID == id {
			before = &x
		}
	}
	if before == nil {
		for _, x := range a.cfg.ConfigOverrides() {
			if x.ID == id {
				writeError(w, http.StatusConflict, "override "+id+" comes from the config file; remove it there", "id")
				return
			}
		}
		writeError(w, http.StatusNotFound, "no override "+id, "id")
		return
	}
	next := a.withOverride(id, nil)
	if dryRun {
		writeJSON(w, http.StatusOK, writeResult{DryRun: true, Changes: a.diff(next)})
		return
	}
	rec, err := a.record(who, "delete-override", id, before, nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the override was not deleted: "+err.Error(), "")
		return
	}
	if _, err := a.cfg.Store.Delete(id); err != nil {
		a.cfg.Logger.Error("deleting an override failed", "id", id, "err", err)
		a.recordFailure(rec, err)
		writeError(w, http.StatusInternalServerError, "the override was not deleted: "+err.Error(), "")
		return
	}
	a.logChange(rec, *before)
	writeJSON(w, http.StatusOK, writeResult{Changes: a.applied(r.Context(), id, next)})
}

// sameOverride reports whether two overrides say the same, whoever made
// them and whenever.
func sameOverride(a, b model.Override) bool {
	a.Author, a.Created, b.Author, b.Created = "", time.Time{}, "", time.Time{}
	return a.Equal(b)
}

// withOverride returns every override with id replaced by o (nil: removed).
func (a *v1) withOverride(id string, o *model.Override) []model.Override {
	var out []model.Override
	for _, x := range a.allOverrides() {
		if x.ID != id {
			out = append(out, x)
		}
	}
	if o != nil {
		out = append(out, *o)
	}
	return out
}

// diff compares the current Plan with the one next would give.
func (a *v1) diff(next []model.Override) []planChange {
	return planChanges(a.cfg.Plan(), a.cfg.Preview(model.NewOverrides(next)))
}

// applied applies next, the overrides after a write, and returns the
// shares that moved: the Plan before it against the one published after.
func (a *v1) applied(ctx context.Context, id string, next []model.Override) []planChange {
	cur := a.cfg.Plan()
	if err := a.cfg.Apply(ctx, model.NewOverrides(next)); err != nil {
		a.cfg.Logger.Warn("an override is stored but the client left before the Plan followed", "id", id, "err", err)
		return []planChange{}
	}
	return planChanges(cur, a.cfg.Plan())
}

// planChanges lists the shares that differ between two Plans.
func planChanges(cur, after *model.Plan) []planChange {
	out := []planChange{}
	if cur == nil || after == nil {
		return out
	}
	for _, s := range cur.Services {
		t, ok := after.Service(s.Name)
		if !ok {
			continue
		}
		before, later := serviceOf(cur, s), serviceOf(after, t)
		for i, rb := range before.Routes {
			if i >= len(later.Routes) {
				break
			}
			ra := later.Routes[i]
			clusters := map[string]bool{}
			for c := range rb.Shares {
				clusters[c] = true
			}
			for c := range ra.Shares {
				clusters[c] = true
			}
			for _, c := range slices.Sorted(maps.Keys(clusters)) {
				if d := rb.Shares[c] - ra.Shares[c]; d > 1e-9 || d < -1e-9 {
					out = append(out, planChange{Service: s.Name, Site: rb.Site, Cluster: c, Before: rb.Shares[c], After: ra.Shares[c]})
				}
			}
		}
	}
	return out
}

// record appends the audit record of a write about to be made, synced;
// the write must not be made if it fails.
func (a *v1) record(who, action, id string, before, after *model.Override) (AuditRecord, error) {
	rec := AuditRecord{Time: a.cfg.Now().UTC(), Identity: who, Action: action, ID: id}
	if before != nil {
		b := OverrideOf(*before)
		rec.Before = &b
	}
	if after != nil {
		x := OverrideOf(*after)
		rec.After = &x
	}
	if err := a.cfg.Audit.Append(rec); err != nil {
		a.cfg.Logger.Error("audit log write failed; the write is refused", "err", err, "identity", who, "action", action, "id", id)
		return rec, err
	}
	return rec, nil
}

// logChange logs a write that was made, also in the process log, which
// outlives a pod's audit file: who made it, and the override written (or
// deleted) with its kind, service, cluster, reason and expiry. The weights
// loop logs the same change again when the engine takes it up, as it does
// for overrides of every other source.
func (a *v1) logChange(rec AuditRecord, o model.Override) {
	a.cfg.Logger.Info("override changed", "identity", rec.Identity, "action", rec.Action, "id", rec.ID, "override", o)
}

// recordFailure appends a record saying that the write rec recorded did
// not happen, because the store failed with cause.
func (a *v1) recordFailure(rec AuditRecord, cause error) {
	rec.Time, rec.Error = a.cfg.Now().UTC(), "not stored: "+cause.Error()
	if err := a.cfg.Audit.Append(rec); err != nil {
		a.cfg.Logger.Error("audit log write failed", "err", err, "record", rec)
	}
}

// fail answers invalid input with 400 and the field at fault.
func (a *v1) fail(w http.ResponseWriter, err error) {
	if err == errTooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, err.Error(), "")
		return
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, fe.Error(), fe.field)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error(), "")
}

type explainJSON struct {
	Name     string              `json:"name"`
	Client   string              `json:"client,omitempty"`
	Region   string              `json:"region,omitempty"`
	Zone     string              `json:"zone,omitempty"`
	Located  bool                `json:"located"`
	Location *locationJSON       `json:"location,omitempty"`
	Site     string              `json:"site"`
	Entry    string              `json:"entry,omitempty"`
	Note     string              `json:"note,omitempty"`
	Mode     string              `json:"mode"`
	Summary  string              `json:"summary"`
	DNS      []dnsAnswerJSON     `json:"dns"`
	XDS      []xdsLocalityJSON   `json:"xds"`
	Targets  []explainTargetJSON `json:"targets"`
}

type dnsAnswerJSON struct {
	Address string  `json:"address"`
	Cluster string  `json:"cluster"`
	Share   float64 `json:"share"`
}

type xdsLocalityJSON struct {
	Cluster  string `json:"cluster"`
	Priority int    `json:"priority"`
	Weight   uint32 `json:"weight"`
}

type explainTargetJSON struct {
	Cluster  string   `json:"cluster"`
	Address  string   `json:"address"`
	Priority int      `json:"priority"`
	Weight   uint32   `json:"weight"`
	Share    float64  `json:"share"`
	Status   string   `json:"status"`
	Reasons  []string `json:"reasons"`
}

func (a *v1) explain(w http.ResponseWriter, r *http.Request, _ string) {
	name := model.CanonicalName(r.URL.Query().Get("name"))
	if name == "" {
		writeError(w, http.StatusBadRequest, "give the service: ?name=app.example.com", "name")
		return
	}
	q := r.URL.Query()
	region, zone := q.Get("region"), q.Get("zone")
	var who model.Client
	var client netip.Addr
	switch {
	case q.Has("client") && (region != "" || zone != ""):
		writeError(w, http.StatusBadRequest, "give either a DNS client (?client=IP) or an xDS node's locality (?region=R&zone=Z), not both", "client")
		return
	case region != "":
		who.Locality, who.Node = model.Locality{Region: region, Zone: zone}, true
	case zone != "":
		writeError(w, http.StatusBadRequest, "a zone needs its region: ?region=R&zone=Z", "region")
		return
	default:
		var err error
		if client, err = netip.ParseAddr(q.Get("client")); err != nil {
			writeError(w, http.StatusBadRequest, "give the client's IP address (?client=81.2.69.1) or an xDS node's locality (?region=eu-west)", "client")
			return
		}
		who = a.cfg.Locate(client.Unmap())
	}
	p := a.planOr503(w)
	if p == nil {
		return
	}
	e, ok := p.Explain(name, who)
	if !ok {
		writeError(w, http.StatusNotFound, "no global service "+name, "name")
		return
	}
	out := explainJSON{Name: name, Located: who.Location.Known(), Site: e.Site, Entry: e.Entry, Note: e.Note, Mode: e.Mode.String(), Summary: e.Summary,
		Region: region, Zone: zone, DNS: []dnsAnswerJSON{}, XDS: []xdsLocalityJSON{}, Targets: []explainTargetJSON{}}
	if client.IsValid() {
		out.Client = client.String()
	}
	if p, ok := who.Location.Point(); ok {
		out.Location = &locationJSON{p.Lat, p.Lon}
	}
	locality := map[string]*xdsLocalityJSON{}
	for _, t := range e.Targets {
		out.Targets = append(out.Targets, explainTargetJSON{Cluster: t.Cluster, Address: t.Address, Priority: t.Priority, Weight: t.Weight,
			Share: t.Share, Status: t.Status, Reasons: t.Reasons})
		if t.Share > 0 {
			out.DNS = append(out.DNS, dnsAnswerJSON{Address: t.Address, Cluster: t.Cluster, Share: t.Share})
		}
		if t.Priority >= 0 {
			l := locality[t.Cluster]
			if l == nil {
				l = &xdsLocalityJSON{Cluster: t.Cluster, Priority: t.Priority}
				locality[t.Cluster] = l
			}
			l.Weight += max(t.Weight, 1)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(locality)) {
		out.XDS = append(out.XDS, *locality[c])
	}
	slices.SortStableFunc(out.XDS, func(x, y xdsLocalityJSON) int { return cmp.Compare(x.Priority, y.Priority) })
	writeJSON(w, http.StatusOK, out)
}

// replicaReports returns every replica's report, sorted by name, and the
// time to judge them at. When health is not shared (shared false) it
// makes this replica's own from its Health, without times: it is never
// sent, and never expires.
func (a *v1) replicaReports() (reports []model.ReplicaReport, now time.Time, shared bool) {
	now = a.cfg.Now()
	if a.cfg.Replicas == nil {
		var notUp []model.TargetHealth
		for _, v := range a.cfg.Health().Targets() {
			if v.State != model.Up {
				notUp = append(notUp, v)
			}
		}
		return []model.ReplicaReport{{ProbeReport: model.NewProbeReport(a.cfg.Replica, time.Time{}, notUp, nil), Self: true}}, now, false
	}
	reports = slices.Clone(a.cfg.Replicas())
	slices.SortStableFunc(reports, func(x, y model.ReplicaReport) int { return cmp.Compare(x.Replica, y.Replica) })
	return reports, now, true
}

type replicasJSON struct {
	Replica       string             `json:"replica"`
	Quorum        string             `json:"quorum"`
	Replicas      []replicaJSON      `json:"replicas"`
	Disagreements []disagreementJSON `json:"disagreements"`
}

// replicaJSON is one replica's report. The times are omitted when health
// is not shared: this replica's report is then never sent or renewed.
type replicaJSON struct {
	Name      string     `json:"name"`
	Self      bool       `json:"self"`
	Live      bool       `json:"live"`
	Heartbeat *time.Time `json:"heartbeat,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	ReportAt  *time.Time `json:"report_at,omitempty"`
	Down      int        `json:"down"`
	Unknown   int        `json:"unknown"`
	// On this replica's own report only (model.ReplicaReport).
	Conflict              string     `json:"conflict,omitempty"`
	StoreUnreachableSince *time.Time `json:"store_unreachable_since,omitempty"`
}

// disagreementJSON is a target the live replicas' probes see differently,
// and what this replica's Health decided of it.
type disagreementJSON struct {
	Service        string               `json:"service"`
	Cluster        string               `json:"cluster"`
	Address        string               `json:"address"`
	Decision       string               `json:"decision"`
	DecisionReason string               `json:"decision_reason"`
	Verdicts       []replicaVerdictJSON `json:"verdicts"`
}

type replicaVerdictJSON struct {
	Replica string     `json:"replica"`
	State   string     `json:"state"`
	Since   *time.Time `json:"since,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// utcOrNil returns t in UTC, nil when it is zero.
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// replicasView builds the answer of /api/v1/replicas.
func (a *v1) replicasView() replicasJSON {
	reports, now, shared := a.replicaReports()
	out := replicasJSON{Replica: a.cfg.Replica, Replicas: []replicaJSON{}, Disagreements: []disagreementJSON{}}
	if a.cfg.Quorum != nil {
		out.Quorum = a.cfg.Quorum()
	}
	for _, rr := range reports {
		if rr.Self && out.Replica == "" {
			out.Replica = rr.Replica
		}
		rj := replicaJSON{Name: rr.Replica, Self: rr.Self, Live: !shared || rr.Live(now), Heartbeat: utcOrNil(rr.Heartbeat),
			Expires: utcOrNil(rr.Expires), ReportAt: utcOrNil(rr.At), Conflict: rr.Conflict, StoreUnreachableSince: utcOrNil(rr.StoreUnreachableSince)}
		for _, v := range rr.NotUp {
			switch v.State {
			case model.Down:
				rj.Down++
			case model.Unknown:
				rj.Unknown++
			}
		}
		out.Replicas = append(out.Replicas, rj)
	}
	if !shared {
		return out
	}
	health := a.cfg.Health()
	for _, d := range model.Disagreements(reports, now) {
		dj := disagreementJSON{Service: d.Service, Cluster: d.Cluster, Address: d.Address.String(), Decision: model.Unknown.String()}
		vs := health.Of(d.Service)
		if i, ok := slices.BinarySearchFunc(vs, d, func(v model.TargetHealth, d model.Disagreement) int {
			return cmp.Or(cmp.Compare(v.Cluster, d.Cluster), v.Address.Compare(d.Address))
		}); ok {
			dj.Decision, dj.DecisionReason = vs[i].State.String(), vs[i].Reason
		}
		for _, v := range d.Verdicts {
			dj.Verdicts = append(dj.Verdicts, replicaVerdictJSON{Replica: v.Replica, State: v.State.String(), Since: utcOrNil(v.Since), Reason: v.Reason})
		}
		out.Disagreements = append(out.Disagreements, dj)
	}
	return out
}

func (a *v1) replicas(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, http.StatusOK, a.replicasView())
}

type dnssecJSON struct {
	Zone string      `json:"zone"`
	Keys []DNSSECKey `json:"keys"`
	// DS lists the DS records to give the parent, one per key-signing key.
	DS []string `json:"ds"`
}

func (a *v1) dnssec(w http.ResponseWriter, r *http.Request, _ string) {
	zone := model.CanonicalName(r.PathValue("zone"))
	var keys []DNSSECKey
	ok := false
	if a.cfg.DNSSEC != nil {
		keys, ok = a.cfg.DNSSEC(zone)
	}
	if !ok {
		if len(zone) > 253 {
			zone = zone[:253] + "..."
		}
		writeError(w, http.StatusNotFound, "zone "+zone+" is not served here, or is not signed (it has no dnssec block)", "zone")
		return
	}
	out := dnssecJSON{Zone: zone, Keys: keys, DS: []string{}}
	for _, k := range keys {
		if k.DS != "" {
			out.DS = append(out.DS, k.DS)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *v1) zones(w http.ResponseWriter, r *http.Request, _ string) {
	out := []string{}
	if a.cfg.Zones != nil {
		out = append(out, a.cfg.Zones()...)
	}
	slices.Sort(out)
	writeJSON(w, http.StatusOK, out)
}

func (a *v1) nacks(w http.ResponseWriter, r *http.Request, _ string) {
	out := []NACK{}
	if a.cfg.NACKs != nil {
		out = append(out, a.cfg.NACKs()...)
	}
	writeJSON(w, http.StatusOK, out)
}

// auditDamagedHeader lists, on GET /api/v1/audit, the line numbers of the
// audit log that hold no record and were skipped.
const auditDamagedHeader = "Meridian-Audit-Damaged-Lines"

func (a *v1) auditLog(w http.ResponseWriter, r *http.Request, _ string) {
	recs, damaged, err := a.cfg.Audit.Read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if len(damaged) > 0 {
		lines := make([]string, len(damaged))
		for i, d := range damaged {
			lines[i] = strconv.Itoa(d.Line)
		}
		a.cfg.Logger.Warn("audit log: damaged lines skipped", "lines", damaged)
		w.Header().Set(auditDamagedHeader, strings.Join(lines, ","))
	}
	if recs == nil {
		recs = []AuditRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

// openAPI is the OpenAPI 3 document of /api/v1.
//
//go:embed openapi.json
var openAPI []byte
