package kubestore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// logBuf collects a replica's logs for the test to read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeCounter counts the write requests (POST, PUT, PATCH) a client sends
// and the bytes of their bodies, by the kind of health object written
// (heartbeatObject or reportObject, read from the body's labels), or
// "other".
type writeCounter struct {
	mu      sync.Mutex
	writes  map[string]int
	bytes   map[string]int64
	largest int64
}

func newWriteCounter() *writeCounter {
	return &writeCounter{writes: map[string]int{}, bytes: map[string]int64{}}
}

func (wc *writeCounter) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			resource := "other"
			if req.Body != nil {
				b, err := io.ReadAll(req.Body)
				req.Body.Close()
				if err != nil {
					return nil, err
				}
				req.Body = io.NopCloser(bytes.NewReader(b))
				for _, kind := range []string{heartbeatObject, reportObject} {
					// The label as a map entry in JSON or protobuf
					// (key, then field 2 of the entry, its length, value).
					inJSON := fmt.Sprintf("%q:%q", HealthObjectLabel, kind)
					inProto := HealthObjectLabel + "\x12" + string(rune(len(kind))) + kind
					if bytes.Contains(b, []byte(inJSON)) || bytes.Contains(b, []byte(inProto)) {
						resource = kind
					}
				}
			}
			wc.mu.Lock()
			wc.writes[resource]++
			wc.bytes[resource] += req.ContentLength
			wc.largest = max(wc.largest, req.ContentLength)
			wc.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (wc *writeCounter) count(resource string) (int, int64) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.writes[resource], wc.bytes[resource]
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// running is one replica's HealthReports, running until stopped.
type running struct {
	*HealthReports
	changed chan struct{} // a value per OnChange, never blocking
	log     *logBuf
	writes  *writeCounter
	stop    func() // cancels Run and waits for it
}

// startReports runs the health reports of one replica of the store NAME,
// with its own client, as a Meridian replica does; tweak may set test
// hooks before Run.
func startReports(t testing.TB, c *kubetest.Cluster, name, replica string, opts HealthReportsOptions, tweak func(*HealthReports)) *running {
	t.Helper()
	wc := newWriteCounter()
	cfg := rest.CopyConfig(c.Config)
	cfg.WrapTransport = wc.RoundTrip
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	opts.Replica = replica
	opts.Logger = slog.New(slog.NewTextHandler(lb, nil))
	h := NewHealthReports(client, "meridian", name, opts)
	if tweak != nil {
		tweak(h)
	}
	r := &running{HealthReports: h, changed: make(chan struct{}, 1), log: lb, writes: wc}
	h.OnChange(func() {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", replica, err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// probeReport makes a report of n targets not up in service svc.
func probeReport(replica, svc string, n int, at time.Time) model.ProbeReport {
	var notUp []model.TargetHealth
	for i := range n {
		state, reason := model.Down, "connect: connection refused"
		if i%3 == 2 {
			state, reason = model.Unknown, ""
		}
		notUp = append(notUp, model.TargetHealth{Service: svc, Cluster: fmt.Sprintf("c%d", i%2),
			Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), State: state,
			Since: at.Add(-time.Duration(i) * time.Minute).Truncate(time.Second), Reason: reason})
	}
	return model.NewProbeReport(replica, at, notUp, nil)
}

func sameProbeReport(a, b model.ProbeReport) bool {
	if a.Replica != b.Replica || !a.At.Equal(b.At) || len(a.NotUp) != len(b.NotUp) || !slices.Equal(a.Probes, b.Probes) || a.Quorum != b.Quorum {
		return false
	}
	for i, x := range a.NotUp {
		y := b.NotUp[i]
		if x.Service != y.Service || x.Cluster != y.Cluster || x.Address != y.Address || x.State != y.State || !x.Since.Equal(y.Since) || x.Reason != y.Reason {
			return false
		}
	}
	return true
}

// reportOf returns the report of replica in rs.
func reportOf(rs []model.ReplicaReport, replica string) (model.ReplicaReport, bool) {
	for _, r := range rs {
		if r.Replica == replica {
			return r, true
		}
	}
	return model.ReplicaReport{}, false
}

// liveReport reports whether h counts replica's report now, on h's clock.
func liveReport(h *HealthReports, replica string) bool {
	r, ok := reportOf(h.Reports(), replica)
	return ok && r.Live(h.now())
}

// storeLost reports whether replica's own report says the store is
// unreachable.
func storeLost(r *running, replica string) bool {
	self, _ := reportOf(r.Reports(), replica)
	return !self.StoreUnreachableSince.IsZero()
}

// expiryCheckedSince reports whether the expiry goroutine has judged the
// heartbeats at t or later, on h's clock.
func (h *HealthReports) expiryCheckedSince(t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.checkedSelf.Before(t)
}

// testClock is the wall clock moved on by Advance, for the replicas of a
// test to share: time passes as it does, and jumps when told.
type testClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

// changedWithin reports whether OnChange fired within d.
func (r *running) changedWithin(d time.Duration) bool {
	select {
	case <-r.changed:
		return true
	case <-time.After(d):
		return false
	}
}

func drainChanged(r *running) {
	select {
	case <-r.changed:
	default:
	}
}

// TestHealthReports shares probe reports between replicas through a real
// kube-apiserver; each case uses a store NAME of its own in one cluster.
func TestHealthReports(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	fast := HealthReportsOptions{Heartbeat: 300 * time.Millisecond, Batch: 100 * time.Millisecond} // Lease of 3 s

	t.Run("Shared", func(t *testing.T) {
		names := []string{"r1", "R_2.example", "r3"}
		var rs []*running
		want := map[string]model.ProbeReport{}
		at := time.Now().Add(-time.Minute)
		for i, name := range names {
			r := startReports(t, c, "shared", name, HealthReportsOptions{}, nil)
			want[name] = probeReport(name, fmt.Sprintf("svc-%d", i), 3+i, at.Add(time.Duration(i)*time.Second))
			r.Share(want[name])
			rs = append(rs, r)
		}
		for i, r := range rs {
			waitFor(t, names[i]+" sees every report, live", func() bool {
				got := r.Reports()
				if len(got) != len(names) {
					return false
				}
				for _, g := range got {
					if !sameProbeReport(g.ProbeReport, want[g.Replica]) || g.Self != (g.Replica == names[i]) || !g.Live(time.Now()) {
						return false
					}
				}
				return true
			})
		}
		// A replica starting late has every live report once Synced.
		late := startReports(t, c, "shared", "r4", HealthReportsOptions{}, nil)
		select {
		case <-late.Synced():
		case <-time.After(10 * time.Second):
			t.Fatal("r4's reports are not synced within 10 s")
		}
		live := 0
		for _, r := range late.Reports() {
			if r.Live(time.Now()) && !r.Self {
				live++
			}
		}
		if live != len(names) {
			t.Errorf("once synced, r4 sees %d live reports of others, want %d: %+v", live, len(names), late.Reports())
		}
		late.stop()
		got := rs[0].Reports()
		if got[0].Replica != "R_2.example" || got[1].Replica != "r1" || got[2].Replica != "r3" {
			t.Errorf("reports not sorted by replica: %v, %v, %v", got[0].Replica, got[1].Replica, got[2].Replica)
		}
		object := healthObjectName("shared", "R_2.example")
		if !strings.HasPrefix(object, "shared-health-r-2-example-") {
			t.Errorf("R_2.example's objects are named %s", object)
		}
		l, err := c.Client.CoordinationV1().Leases("meridian").Get(t.Context(), object, metav1.GetOptions{})
		if err != nil || *l.Spec.HolderIdentity != "R_2.example" || *l.Spec.LeaseDurationSeconds != 3 ||
			l.Labels[HealthReportsLabel] != "shared" || l.Labels[HealthObjectLabel] != heartbeatObject || len(l.Annotations) != 1 || len(l.Annotations[incarnationAnnotation]) != 16 {
			t.Errorf("R_2.example's heartbeat: %v %+v", err, l)
		}
		report := reportObjectName("shared", "R_2.example")
		if want := "shared-report-" + strings.TrimPrefix(object, "shared-health-"); report != want {
			t.Errorf("R_2.example's report is named %s, want %s", report, want)
		}
		l, err = c.Client.CoordinationV1().Leases("meridian").Get(t.Context(), report, metav1.GetOptions{})
		if err != nil || l.Labels["app.kubernetes.io/component"] != "health" || l.Labels[HealthReportsLabel] != "shared" ||
			l.Labels[HealthObjectLabel] != reportObject || *l.Spec.HolderIdentity != "R_2.example" ||
			l.Spec.RenewTime != nil || l.Spec.LeaseDurationSeconds != nil {
			t.Errorf("R_2.example's report Lease: %v %+v", err, l)
		} else if r, err := decodeReport(l.Annotations); err != nil || !sameProbeReport(r, want["R_2.example"]) || l.Annotations[reportAnnotation] == "" {
			t.Errorf("R_2.example's report Lease holds %v %+v, want its report as plain JSON", err, l.Annotations)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		r1 := startReports(t, c, "batch", "r1", HealthReportsOptions{}, nil)
		r2 := startReports(t, c, "batch", "r2", HealthReportsOptions{}, nil)
		at := time.Now()
		r1.Share(probeReport("r1", "svc", 1, at))
		waitFor(t, "r2 sees r1's first report", func() bool { return liveReport(r2.HealthReports, "r1") })
		before, _ := r1.writes.count(reportObject)
		var last model.ProbeReport
		for i := range 50 {
			last = probeReport("r1", "svc", 2+i, at.Add(time.Duration(i+1)*time.Millisecond))
			r1.Share(last)
		}
		waitFor(t, "r2 sees r1's last report", func() bool {
			r, ok := reportOf(r2.Reports(), "r1")
			return ok && sameProbeReport(r.ProbeReport, last)
		})
		// Room for any late write of the burst: a report shared after it
		// is written after it (one write loop), so once r2 sees that one,
		// every write of the burst is counted; the marker adds one.
		marker := probeReport("r1", "svc", 1, at.Add(time.Second))
		r1.Share(marker)
		waitFor(t, "r2 sees r1's report after the burst", func() bool {
			r, ok := reportOf(r2.Reports(), "r1")
			return ok && sameProbeReport(r.ProbeReport, marker)
		})
		after, _ := r1.writes.count(reportObject)
		if n := after - before - 1; n > 2 || n < 1 {
			t.Errorf("50 Shares in a burst made %d report writes, want 1 or 2", n)
		} else {
			t.Logf("50 Shares in a burst: %d report writes", n)
		}
		if r, _ := reportOf(r1.Reports(), "r1"); !sameProbeReport(r.ProbeReport, marker) {
			t.Errorf("r1's own report is not its last shared")
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		r1 := startReports(t, c, "expiry", "r1", fast, nil)
		r2 := startReports(t, c, "expiry", "r2", fast, nil)
		r3 := startReports(t, c, "expiry", "r3", fast, func(h *HealthReports) { h.noRelease = true })
		for _, r := range []*running{r1, r2, r3} {
			r.Share(probeReport(r.opts.Replica, "svc", 2, time.Now()))
		}
		waitFor(t, "r1 sees r2 and r3 live", func() bool {
			return liveReport(r1.HealthReports, "r2") && liveReport(r1.HealthReports, "r3")
		})

		// A clean stop deletes the Lease: not live at once.
		drainChanged(r1)
		start := time.Now()
		r2.stop()
		took := waitFor(t, "r1 sees r2 not live", func() bool { return !liveReport(r1.HealthReports, "r2") })
		if took > time.Second {
			t.Errorf("r2 stopped cleanly: not live after %v, want at once", took)
		}
		if !r1.changedWithin(time.Second) {
			t.Error("r1's listeners were not told r2 stopped")
		}
		if _, ok := reportOf(r1.Reports(), "r2"); !ok {
			t.Error("r2's report left the store with its heartbeat")
		}
		t.Logf("a clean stop: not live after %v", time.Since(start))

		// A killed replica: its Lease expires on r1's clock.
		drainChanged(r1)
		start = time.Now()
		r3.stop()
		took = waitFor(t, "r1 sees r3 not live", func() bool { return !liveReport(r1.HealthReports, "r3") })
		if lease := time.Duration(r1.leaseSeconds) * time.Second; took > lease+time.Second {
			t.Errorf("r3 killed: not live after %v, want within the Lease's %v + 1s", took, lease)
		}
		if !r1.changedWithin(time.Second) {
			t.Error("r1's listeners were not told r3's heartbeat expired")
		}
		t.Logf("a killed replica: not live after %v", took)
		if !liveReport(r1.HealthReports, "r1") {
			t.Error("r1 is not live itself")
		}
	})

	t.Run("ObserverClock", func(t *testing.T) {
		// Objects as other replicas with skewed clocks left them.
		seconds := int32(3)
		put := func(replica string, renew time.Time) {
			key, enc, _ := encodeReport(probeReport(replica, "svc", 1, time.Now()), maxReportBytes)
			if _, err := c.Client.CoordinationV1().Leases("meridian").Create(t.Context(), &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: reportObjectName("clock", replica), Annotations: map[string]string{key: enc},
					Labels: map[string]string{HealthReportsLabel: "clock", HealthObjectLabel: reportObject}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &replica}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Client.CoordinationV1().Leases("meridian").Create(t.Context(), &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: healthObjectName("clock", replica),
					Labels: map[string]string{HealthReportsLabel: "clock", HealthObjectLabel: heartbeatObject}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &replica, LeaseDurationSeconds: &seconds,
					RenewTime: &metav1.MicroTime{Time: renew}}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		put("ahead", time.Now().Add(time.Hour))
		put("behind", time.Now().Add(-time.Hour))
		r1 := startReports(t, c, "clock", "r1", fast, nil)
		r1.Share(probeReport("r1", "svc", 1, time.Now()))
		waitFor(t, "r1 sees both", func() bool {
			_, a := reportOf(r1.Reports(), "ahead")
			_, b := reportOf(r1.Reports(), "behind")
			return a && b
		})
		if liveReport(r1.HealthReports, "behind") {
			t.Error("a Lease renewed an hour ago is live at first sight")
		}
		start := time.Now()
		put("ahead-late", time.Now().Add(time.Hour)) // seen by the watch, not the initial list
		waitFor(t, "r1 sees ahead-late", func() bool { _, ok := reportOf(r1.Reports(), "ahead-late"); return ok })
		waitFor(t, "Leases renewed in the future expire", func() bool {
			return !liveReport(r1.HealthReports, "ahead") && !liveReport(r1.HealthReports, "ahead-late")
		})
		if took := time.Since(start); took > 4*time.Second+time.Second {
			t.Errorf("Leases renewed an hour ahead stayed live %v, want their 3 s from when they were seen", took)
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		r1 := startReports(t, c, "large", "r1", HealthReportsOptions{}, nil)
		// Targets with little in common, the worst case for compression:
		// addresses at random in a /64, each down since a time of its own.
		var notUp []model.TargetHealth
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 30_000 {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78}
			for j := 8; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			notUp = append(notUp, model.TargetHealth{Service: fmt.Sprintf("service-%d", i/6000), Cluster: fmt.Sprintf("cluster-%d", i%10),
				Address: netip.AddrFrom16(a), State: model.Down, Since: time.Now().Add(-time.Duration(i) * time.Second).Truncate(time.Second),
				Reason: fmt.Sprintf("HTTP 503 from /healthz (%d)", i%50)})
		}
		r1.Share(model.NewProbeReport("r1", time.Now(), notUp, nil))
		var l *coordinationv1.Lease
		// Finding the most entries that fit compresses the report a dozen
		// times: a second here, many under the race detector.
		waitWithin(t, time.Minute, "the report is written", func() bool {
			var err error
			l, err = c.Client.CoordinationV1().Leases("meridian").Get(t.Context(), reportObjectName("large", "r1"), metav1.GetOptions{})
			return err == nil
		})
		size := 0
		for k, v := range l.Annotations {
			size += len(k) + len(v)
		}
		if size >= 256<<10 {
			t.Errorf("the report Lease's annotations take %d bytes, over 256 KiB", size)
		}
		if _, ok := l.Annotations[reportAnnotation]; ok {
			t.Errorf("a report of %d targets is in %s, want %s alone", len(notUp), reportAnnotation, reportGzAnnotation)
		}
		r, err := decodeReport(l.Annotations)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("30,000 IPv6 down targets: %d kept, in %d bytes of annotations", len(r.NotUp), size)
		if log := r1.log.String(); !strings.Contains(log, "written without reasons and") || !strings.Contains(log, "entries") {
			t.Errorf("the log does not say what was dropped:\n%s", log)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		opts := fast
		opts.Retention = time.Second
		prune := func(h *HealthReports) { h.pruneEvery = 200 * time.Millisecond }
		r1 := startReports(t, c, "prune", "r1", opts, prune)
		r2 := startReports(t, c, "prune", "r2", opts, func(h *HealthReports) { prune(h); h.noRelease = true })
		r1.Share(probeReport("r1", "svc", 1, time.Now()))
		r2.Share(probeReport("r2", "svc", 1, time.Now()))
		waitFor(t, "r1 sees r2 live", func() bool { return liveReport(r1.HealthReports, "r2") })
		// Beside them, what is not the store's: a ConfigMap as the
		// version that kept reports in ConfigMaps left it, and a Lease
		// named as r3's report would be but without the object label.
		leases, cms := c.Client.CoordinationV1().Leases("meridian"), c.Client.CoreV1().ConfigMaps("meridian")
		if _, err := cms.Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: healthObjectName("prune", "r3"),
			Labels: map[string]string{HealthReportsLabel: "prune"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := leases.Create(t.Context(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: reportObjectName("prune", "r3"),
			Labels: map[string]string{HealthReportsLabel: "prune"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r2.stop()
		waitFor(t, "r1 prunes r2's Leases", func() bool {
			_, errH := leases.Get(t.Context(), healthObjectName("prune", "r2"), metav1.GetOptions{})
			_, errR := leases.Get(t.Context(), reportObjectName("prune", "r2"), metav1.GetOptions{})
			return apierrors.IsNotFound(errH) && apierrors.IsNotFound(errR)
		})
		waitFor(t, "r2 leaves r1's reports", func() bool { _, ok := reportOf(r1.Reports(), "r2"); return !ok })
		for _, name := range []string{healthObjectName("prune", "r1"), reportObjectName("prune", "r1"), reportObjectName("prune", "r3")} {
			if _, err := leases.Get(t.Context(), name, metav1.GetOptions{}); err != nil {
				t.Errorf("Lease %s: %v", name, err)
			}
		}
		if _, err := cms.Get(t.Context(), healthObjectName("prune", "r3"), metav1.GetOptions{}); err != nil {
			t.Errorf("a ConfigMap of the earlier version: %v", err)
		}
	})

	t.Run("BadEdit", func(t *testing.T) {
		r1 := startReports(t, c, "edit", "r1", HealthReportsOptions{}, nil)
		r2 := startReports(t, c, "edit", "r2", HealthReportsOptions{}, nil)
		good := probeReport("r2", "svc", 2, time.Now())
		r2.Share(good)
		r1.Share(probeReport("r1", "svc", 1, time.Now()))
		waitFor(t, "r1 sees r2's report", func() bool { return liveReport(r1.HealthReports, "r2") })
		leases := c.Client.CoordinationV1().Leases("meridian")
		l, err := leases.Get(t.Context(), reportObjectName("edit", "r2"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.Annotations[reportAnnotation] = `{"v":1,"replica":"r2","at":"yesterday"`
		if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "r1 logs the bad report", func() bool { return strings.Contains(r1.log.String(), "health report ignored") })
		if r, ok := reportOf(r1.Reports(), "r2"); !ok || !sameProbeReport(r.ProbeReport, good) {
			t.Errorf("after a bad edit r1 holds %+v, want r2's last good report", r)
		}
		if n := strings.Count(r1.log.String(), "health report ignored"); n != 1 {
			t.Errorf("the bad report was logged %d times, want once", n)
		}
	})

	t.Run("OwnReportRewritten", func(t *testing.T) {
		r1 := startReports(t, c, "own", "r1", fast, nil)
		r2 := startReports(t, c, "own", "r2", fast, nil)
		want := probeReport("r1", "svc", 3, time.Now())
		r1.Share(want)
		r2.Share(probeReport("r2", "svc", 1, time.Now()))
		waitFor(t, "r2 sees r1 live", func() bool { return liveReport(r2.HealthReports, "r1") })
		leases := c.Client.CoordinationV1().Leases("meridian")
		name := reportObjectName("own", "r1")
		restored := func() bool {
			l, err := leases.Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			r, err := decodeReport(l.Annotations)
			return err == nil && sameProbeReport(r, want)
		}
		// Deleted by hand.
		if err := leases.Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if took := waitFor(t, "r1's deleted report is written again", restored); took > 2*time.Second {
			t.Errorf("r1's deleted report written again after %v, want within a heartbeat or two", took)
		}
		waitFor(t, "r2 sees r1's report again", func() bool {
			r, ok := reportOf(r2.Reports(), "r1")
			return ok && sameProbeReport(r.ProbeReport, want) && r.Live(time.Now())
		})
		// Overwritten by someone else with another report.
		l, err := leases.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		forged := probeReport("r1", "svc", 40, time.Now())
		key, enc, _ := encodeReport(forged, maxReportBytes)
		l.Annotations = map[string]string{key: enc}
		if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "r1's overwritten report is written again", func() bool { time.Sleep(20 * time.Millisecond); return restored() })
		// Both Leases deleted, as a peer prunes a replica cut off for
		// longer than Retention: both come back.
		for _, n := range []string{healthObjectName("own", "r1"), name} {
			if err := leases.Delete(t.Context(), n, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "r1's Leases are back", func() bool {
			_, err := leases.Get(t.Context(), healthObjectName("own", "r1"), metav1.GetOptions{})
			return err == nil && restored()
		})
		waitFor(t, "r2 sees r1 live again", func() bool { return liveReport(r2.HealthReports, "r1") })
		if r, _ := reportOf(r1.Reports(), "r1"); r.Conflict != "" {
			t.Errorf("hand edits are taken for another process: %q", r.Conflict)
		}
	})

	t.Run("SameName", func(t *testing.T) {
		a := startReports(t, c, "twin", "twin", fast, nil)
		b := startReports(t, c, "twin", "twin", fast, nil)
		a.Share(probeReport("twin", "svc", 1, time.Now()))
		b.Share(probeReport("twin", "svc", 2, time.Now()))
		const msg = `another Meridian process shares replica name \"twin\"`
		for _, r := range []*running{a, b} {
			waitFor(t, "each process finds the other", func() bool {
				self, _ := reportOf(r.Reports(), "twin")
				return strings.Contains(r.log.String(), msg) && self.Conflict != "" && self.Conflict != r.incarnation
			})
		}
		// Each process writes the report Lease again whenever its watch
		// brings the other's write of it: ten rewrites each are ten
		// conflicts seen again, none of which may be logged.
		aWrites, _ := a.writes.count(reportObject)
		bWrites, _ := b.writes.count(reportObject)
		waitFor(t, "each process sees the other's writes ten times more", func() bool {
			an, _ := a.writes.count(reportObject)
			bn, _ := b.writes.count(reportObject)
			return an >= aWrites+10 && bn >= bWrites+10
		})
		for _, r := range []*running{a, b} {
			if n := strings.Count(r.log.String(), msg); n != 1 {
				t.Errorf("the conflict is logged %d times, want once a minute:\n%s", n, r.log.String())
			}
		}
		// A process that starts after another of the same name stopped
		// (a restart) finds no conflict.
		a.stop()
		b.stop()
		c2 := startReports(t, c, "twin", "twin", fast, nil)
		c2.Share(probeReport("twin", "svc", 1, time.Now()))
		waitFor(t, "the new process's report is written", func() bool {
			l, err := c.Client.CoordinationV1().Leases("meridian").Get(t.Context(), reportObjectName("twin", "twin"), metav1.GetOptions{})
			return err == nil && l.Annotations[incarnationAnnotation] == c2.incarnation
		})
		// Another replica's report, written after, is the signal that c2's
		// watch has brought everything before it.
		other := startReports(t, c, "twin", "other", fast, nil)
		other.Share(probeReport("other", "svc", 1, time.Now()))
		waitFor(t, "the new process sees a later replica's report", func() bool { return liveReport(c2.HealthReports, "other") })
		if self, _ := reportOf(c2.Reports(), "twin"); self.Conflict != "" || strings.Contains(c2.log.String(), msg) {
			t.Errorf("a process that follows a stopped one takes it for a conflict: %q", self.Conflict)
		}
	})

	t.Run("Forged", func(t *testing.T) {
		leases := c.Client.CoordinationV1().Leases("meridian")
		ptr := func(s string) *string { return &s }
		create := func(l *coordinationv1.Lease) {
			t.Helper()
			if _, err := leases.Create(t.Context(), l, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// put writes the two Leases of name, its report r's encoding and
		// its heartbeat's holder and duration.
		put := func(name string, annotations map[string]string, holder string, seconds int32) {
			t.Helper()
			create(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: reportObjectName("forged", name), Annotations: annotations,
				Labels: map[string]string{HealthReportsLabel: "forged", HealthObjectLabel: reportObject}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr(holder)}})
			create(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: healthObjectName("forged", name),
				Labels: map[string]string{HealthReportsLabel: "forged", HealthObjectLabel: heartbeatObject}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr(holder), LeaseDurationSeconds: &seconds,
					RenewTime: &metav1.MicroTime{Time: time.Now()}}})
		}
		report := func(r model.ProbeReport) map[string]string {
			key, enc, _ := encodeReport(r, maxReportBytes)
			return map[string]string{key: enc}
		}
		put("forever", report(probeReport("forever", "svc", 1, time.Now())), "forever", 1_000_000)
		put("victim", report(probeReport("other", "svc", 1, time.Now())), "victim", 3)
		put("thief", report(probeReport("thief", "svc", 1, time.Now())), "someone", 3)
		// A report that decompresses to a reason of 30 MB.
		huge := probeReport("bomb", "svc", 1, time.Now())
		huge.NotUp[0].Reason = "x"
		b := bytes.Replace(marshalReport(huge, huge.NotUp, true), []byte(`"x"`), []byte(`"`+strings.Repeat("x", 30<<20)+`"`), 1)
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		put("bomb", map[string]string{reportGzAnnotation: base64.StdEncoding.EncodeToString(z.Bytes())}, "bomb", 3)
		t.Logf("a reason of 30 MB in %d bytes of annotation", base64.StdEncoding.EncodedLen(z.Len()))

		r1 := startReports(t, c, "forged", "r1", fast, nil)
		r1.Share(probeReport("r1", "svc", 1, time.Now()))
		waitFor(t, "r1 reads forever and bomb", func() bool {
			_, ok1 := reportOf(r1.Reports(), "forever")
			_, ok2 := reportOf(r1.Reports(), "bomb")
			return ok1 && ok2 && liveReport(r1.HealthReports, "forever")
		})
		if r, _ := reportOf(r1.Reports(), "forever"); r.Expires.After(time.Now().Add(10 * 3 * time.Second)) {
			t.Errorf("a Lease of 1,000,000 s counts until %v, want at most ten of r1's Lease duration", r.Expires)
		}
		if r, _ := reportOf(r1.Reports(), "bomb"); len(r.NotUp) != 1 || len(r.NotUp[0].Reason) > maxReason {
			t.Errorf("bomb's report read with %d entries, a reason of %d bytes", len(r.NotUp), len(r.NotUp[0].Reason))
		}
		waitFor(t, "r1 logs the forged Leases", func() bool {
			log := r1.log.String()
			return strings.Contains(log, reportObjectName("forged", "victim")) && strings.Contains(log, healthObjectName("forged", "thief"))
		})
		for _, name := range []string{"other", "victim"} {
			if _, ok := reportOf(r1.Reports(), name); ok {
				t.Errorf("a report claiming to be another replica's is read as %s's", name)
			}
		}
		if liveReport(r1.HealthReports, "thief") {
			t.Error("a heartbeat held by another replica makes thief live")
		}
		if n := len(r1.log.String()); n > 10_000 {
			t.Errorf("%d bytes of logs", n)
		}
	})

	t.Run("StoreDown", func(t *testing.T) {
		// Last: the API server stops, then restarts. The replicas' clock
		// is a test clock, moved past the Leases' lifetime at once while
		// the store is unreachable, rather than waited through.
		clock := &testClock{}
		withClock := func(h *HealthReports) { h.now = clock.Now }
		r1 := startReports(t, c, "down", "r1", fast, withClock)
		r2 := startReports(t, c, "down", "r2", fast, withClock)
		r1.Share(probeReport("r1", "svc", 1, time.Now()))
		r2.Share(probeReport("r2", "svc", 2, time.Now()))
		waitFor(t, "r1 and r2 see each other", func() bool {
			return liveReport(r1.HealthReports, "r2") && liveReport(r2.HealthReports, "r1")
		})
		other := map[*running]string{r1: "r2", r2: "r1"}
		var dropped sync.Map
		for _, r := range []*running{r1, r2} {
			r.OnChange(func() {
				if !liveReport(r.HealthReports, other[r]) {
					dropped.Store(r.opts.Replica, true)
				}
			})
		}
		c.Stop()
		stopped := clock.Now()
		waitFor(t, "r1 and r2 find the store unreachable", func() bool {
			return storeLost(r1, "r1") && storeLost(r2, "r2")
		})
		// Ten Lease durations pass at once; each replica's expiry check
		// runs at the new time.
		lease := time.Duration(r1.leaseSeconds) * time.Second
		clock.Advance(10 * lease)
		jumped := clock.Now()
		for _, r := range []*running{r1, r2} {
			r.rearmExpiry()
			waitFor(t, r.opts.Replica+" checks the expiries after the jump", func() bool { return r.expiryCheckedSince(jumped) })
		}
		for _, r := range []*running{r1, r2} {
			if !liveReport(r.HealthReports, other[r]) {
				t.Errorf("%v after the API server stopped, %s no longer counts %s's report", clock.Now().Sub(stopped), r.opts.Replica, other[r])
			}
			// The clock did pass the Leases: the replica's own heartbeat,
			// which it cannot renew, has expired.
			if self, _ := reportOf(r.Reports(), r.opts.Replica); self.Live(clock.Now()) {
				t.Errorf("%s's own report counts until %v, past %v: the clock did not pass its Lease", r.opts.Replica, self.Expires, clock.Now())
			}
		}
		self, _ := reportOf(r1.Reports(), "r1")
		if self.StoreUnreachableSince.IsZero() || !self.StoreUnreachableSince.Before(stopped) {
			t.Errorf("r1's own report says the store unreachable since %v, want before %v", self.StoreUnreachableSince, stopped)
		}
		if n := strings.Count(r1.log.String(), "cannot reach the health store"); n != 1 {
			t.Errorf("r1 logs %d times that it cannot reach the store, want once", n)
		}
		if err := c.Restart(); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		want := probeReport("r2", "svc", 5, time.Now())
		r2.Share(want)
		took := waitFor(t, "r1 sees r2's new report", func() bool {
			r, ok := reportOf(r1.Reports(), "r2")
			return ok && sameProbeReport(r.ProbeReport, want) && r.Live(clock.Now())
		})
		waitFor(t, "r1's store is reachable again", func() bool { return !storeLost(r1, "r1") })
		t.Logf("the API server back: r2's new report seen by r1 after %v, the store reachable again after %v", took, time.Since(back))
		// Seen at once, not after client-go's watch backoff: r1 lists
		// the Leases afresh as soon as a write succeeds.
		waitFor(t, "r1 lists the Leases afresh, and its peers' clock runs again", func() bool {
			log := r1.log.String()
			return strings.Contains(log, "listing the replicas' Leases afresh") && strings.Contains(log, "the health store is read again")
		})
		if _, ok := dropped.Load("r1"); ok {
			t.Error("r1's listeners were told r2 stopped counting")
		}
		if _, ok := dropped.Load("r2"); ok {
			t.Error("r2's listeners were told r1 stopped counting")
		}
		// Expiry runs again: a killed peer expires, and r1's listeners
		// are told.
		r2.noRelease = true
		r2.stop()
		waitFor(t, "r1 sees r2 expire", func() bool { return !liveReport(r1.HealthReports, "r2") })
		waitFor(t, "r1's listeners are told r2 stopped counting", func() bool { _, ok := dropped.Load("r1"); return ok })
	})

	// Every replica has stopped: none of their goroutines is left.
	waitFor(t, "no goroutine of the health reports is left", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "kubestore.(*HealthReports)") && !strings.Contains(stacks, "kubestore.(*writer)")
	})
}

// TestHealthObjectName: every replica name makes a valid object name, and
// names that sanitise alike make different ones.
func TestHealthObjectName(t *testing.T) {
	seen := map[string]string{}
	for _, replica := range []string{"r1", "meridian-7d9f8c-x2x4z", "R_2.example", "r-2.example", "r_2.example", "", "a..b", ".x", "x.", "é", strings.Repeat("a", 300), strings.Repeat("a", 301)} {
		heartbeat, report := healthObjectName("meridian-overrides", replica), reportObjectName("meridian-overrides", replica)
		for _, got := range []string{heartbeat, report} {
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("%q → %q: %v", replica, got, errs)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("%q and %q both → %q", replica, other, got)
			}
			seen[got] = replica
		}
		k1, ok1 := peerKey("meridian-overrides", heartbeatObject, heartbeat)
		k2, ok2 := peerKey("meridian-overrides", reportObject, report)
		if !ok1 || !ok2 || k1 != k2 {
			t.Errorf("%q: the keys of %s and %s are %q, %q", replica, heartbeat, report, k1, k2)
		}
		if _, ok := peerKey("meridian-overrides", reportObject, heartbeat); ok {
			t.Errorf("%q: %s is taken for a report", replica, heartbeat)
		}
	}
	if got := healthObjectName("o", "meridian-7d9f8c-x2x4z"); got != "o-health-meridian-7d9f8c-x2x4z" {
		t.Errorf("a pod name is changed: %s", got)
	}
	if got := reportObjectName("o", "meridian-7d9f8c-x2x4z"); got != "o-report-meridian-7d9f8c-x2x4z" {
		t.Errorf("a pod name is changed: %s", got)
	}
}

// TestReportEncoding: a report survives the round trip, as JSON and
// compressed, reasons cut to 200 bytes; a broken annotation is an error;
// the capacity of a report is what the comment on wireReport says.
func TestReportEncoding(t *testing.T) {
	at := time.Date(2026, 11, 30, 21, 0, 0, 123456789, time.UTC)
	r := probeReport("r1", "svc", 9, at)
	r.NotUp[0].Reason = strings.Repeat("é", 150)
	r.NotUp[1].Address = netip.MustParseAddr("2001:db8::1")
	r = model.NewProbeReport(r.Replica, r.At, r.NotUp, []string{"web", "api", "svc"})
	r.Quorum = "82%"
	want := r
	want.NotUp = append([]model.TargetHealth(nil), r.NotUp...)
	for i := range want.NotUp {
		want.NotUp[i].Reason = truncateReason(want.NotUp[i].Reason)
	}
	plain := len(marshalReport(r, r.NotUp, true))
	for _, c := range []struct {
		limit   int
		wantKey string
	}{{maxReportBytes, reportAnnotation}, {plain - 1, reportGzAnnotation}} {
		key, enc, dropped := encodeReport(r, c.limit)
		if dropped != "" || key != c.wantKey || len(enc) > c.limit {
			t.Fatalf("limit %d: %s of %d bytes, dropped %q; want %s", c.limit, key, len(enc), dropped, c.wantKey)
		}
		got, err := decodeReport(map[string]string{key: enc, "other": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !sameProbeReport(got, want) {
			t.Errorf("round trip in %s:\n got %+v\nwant %+v", key, got, want)
		}
		t.Logf("%s: %s", key, enc)
	}
	if key, enc, _ := encodeReport(r, maxReportBytes); strings.Count(enc, `"svc"`) != 1 || !strings.Contains(enc, `"probes":["api","web"]`) {
		t.Errorf("%s: each probed service is not named once, in targets or probes: %s", key, enc)
	}
	// A report of the version before probes: it probes the services of
	// its entries.
	old, err := decodeReport(map[string]string{reportAnnotation: `{"v":1,"replica":"r0","at":"2026-11-30T21:00:00Z","targets":{"b":{"c":{"192.0.2.1":[1,0]}},"a":{"c":{"192.0.2.2":[0,0]}}}}`})
	if err != nil || !slices.Equal(old.Probes, []string{"a", "b"}) || old.Quorum != "" {
		t.Errorf("a report without probes reads as probing %q, quorum %q (%v); want [a b]", old.Probes, old.Quorum, err)
	}
	if n := len(truncateReason(strings.Repeat("é", 150))); n != 200 {
		t.Errorf("a reason of 300 bytes is cut to %d", n)
	}

	// Broken annotations are errors, never panics nor a huge allocation.
	_, z, _ := encodeReport(r, plain-1)
	var bomb bytes.Buffer // maxDecodedBytes+1 zeros, gzipped
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zw.Write(make([]byte, maxDecodedBytes+1))
	zw.Close()
	for _, a := range []map[string]string{
		{},
		{reportAnnotation: `{"v":1`},
		{reportAnnotation: `{"v":2,"replica":"r1","at":"2026-11-30T21:00:00Z","targets":{}}`},
		{reportAnnotation: string(marshalReport(r, r.NotUp, true)), reportGzAnnotation: z},
		{reportGzAnnotation: "not base64!"},
		{reportGzAnnotation: base64.StdEncoding.EncodeToString([]byte("not gzip"))},
		{reportGzAnnotation: z[:len(z)/2]},
		{reportGzAnnotation: base64.StdEncoding.EncodeToString(bomb.Bytes())},
	} {
		if _, err := decodeReport(a); err == nil {
			t.Errorf("%.80v: no error", a)
		} else if t.Logf("%v", err); len(err.Error()) > 1000 {
			t.Errorf("an error of %d bytes", len(err.Error()))
		}
	}
	huge := strings.Repeat("x", 8<<20)
	for _, a := range []map[string]string{
		{reportAnnotation: `{"v":1,"replica":"r1","at":"` + huge + `","targets":{}}`},
		{reportAnnotation: `{"v":1,"replica":"r1","at":"2026-11-30T21:00:00Z","targets":{"s":{"c":{"` + huge + `":[1,0]}}}}`},
		{reportAnnotation: `{"v":1,"replica":"r1","at":"2026-11-30T21:00:00Z","targets":{"` + huge + `":{"c":{"192.0.2.1":[1,0]}}}}`},
		{reportAnnotation: `{"v":1,"replica":"r1","at":"2026-11-30T21:00:00Z","probes":["` + huge + `"],"targets":{}}`},
		{reportAnnotation: `{"v":1,"replica":"r1","at":"2026-11-30T21:00:00Z","targets":{"s":{"c":{"192.0.2.1":[1,0,"` + huge + `"]}}}}`},
	} {
		if _, err := decodeReport(a); err == nil || len(err.Error()) > 1000 {
			t.Errorf("a report with a name of 8 MiB: error of %d bytes, want a short one", len(fmt.Sprint(err)))
		}
	}

	// A hand-made report, compressed, that decompresses to a reason of
	// 8 MiB and 150,000 entries: read with the reason cut to maxReason and
	// the entries to maxEntries, the first in order, as the encoder cuts
	// them.
	var many []model.TargetHealth
	for i := range 150_000 {
		many = append(many, model.TargetHealth{Service: "svc", Cluster: "c", Address: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			State: model.Down, Reason: huge})
	}
	big := model.NewProbeReport("r1", at, many, nil)
	b := bytes.ReplaceAll(marshalReport(big, big.NotUp, false), []byte(`]`), []byte(`,0]`))
	b = bytes.Replace(b, []byte(`"targets"`), []byte(`"reasons":["`+huge+`"],"targets"`), 1)
	var bz bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&bz, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	got, err := decodeReport(map[string]string{reportGzAnnotation: base64.StdEncoding.EncodeToString(bz.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.NotUp) != maxEntries || got.NotUp[0].Address != big.NotUp[0].Address || got.NotUp[maxEntries-1].Address != big.NotUp[maxEntries-1].Address {
		t.Errorf("%d bytes compressed, %d decompressed: %d entries read, want %d", bz.Len(), len(b), len(got.NotUp), maxEntries)
	}
	for _, e := range got.NotUp {
		if len(e.Reason) > maxReason {
			t.Fatalf("a reason of %d bytes read, want at most %d", len(e.Reason), maxReason)
		}
	}
	if _, _, dropped := encodeReport(big, 1<<30); !strings.Contains(dropped, fmt.Sprintf("%d of %d entries", 150_000-maxEntries, 150_000)) {
		t.Errorf("150,000 entries written whatever the room, dropping %q; want %d", dropped, maxEntries)
	}

	// The services a replica probes: 2,000 names of about 25 characters,
	// as teams name them.
	var probed []string
	{
		rng := rand.New(rand.NewPCG(3, 4))
		words := []string{"checkout", "payments", "search", "catalog", "inventory", "identity", "billing", "ledger", "gateway", "profile", "media", "notify"}
		for len(probed) < 2_000 {
			probed = append(probed, fmt.Sprintf("%s-%s-%d.%s", words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000), words[rng.IntN(len(words))]))
		}
		slices.Sort(probed)
		probed = slices.Compact(probed)
		names, _ := json.Marshal(probed)
		z, _ := compressReport(names, 1<<30)
		t.Logf("%d probed services: %d bytes of JSON, %d compressed", len(probed), len(names), len(z))
	}

	// Capacity, with reasons, as an outage makes a report: addresses in
	// order but not contiguous (gaps of 1 to 16, as pod addresses leave),
	// 2,000 targets a service over 20 clusters, each cluster's targets
	// down since one of 8 times with one of 5 reasons.
	for _, family := range []string{"IPv4", "IPv6"} {
		var notUp []model.TargetHealth
		rng := rand.New(rand.NewPCG(1, 2))
		n := 0
		for i := range 70_000 {
			n += 1 + rng.IntN(16)
			addr := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			if family == "IPv6" {
				addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, byte(n >> 16), byte(n >> 8), byte(n)})
			}
			cluster := i / 100 % 20
			notUp = append(notUp, model.TargetHealth{Service: fmt.Sprintf("service-%03d", i/2000), Cluster: fmt.Sprintf("cluster-%02d", cluster),
				Address: addr, State: model.Down, Since: at.Add(-time.Duration(cluster%8) * time.Minute),
				Reason: []string{"connect: connection refused", "HTTP 503 from /healthz", "i/o timeout", "TLS handshake: certificate expired", "HTTP 500 from /healthz"}[cluster%5]})
		}
		rep := model.NewProbeReport("r1", at, notUp, probed)
		// The most entries, with their reasons, whose encoding fits, to
		// within 3%: an estimate from the size of n entries, checked on
		// both sides (each try encodes a report; -race makes them slow).
		most := func(size func(n int) int, n int) int {
			fixed := size(0) // the probed services
			estimate := n * (maxReportBytes - fixed) / (size(n) - fixed)
			lo, hi := estimate*97/100, min(estimate*103/100, len(rep.NotUp))
			if size(lo) > maxReportBytes || size(hi) <= maxReportBytes {
				t.Fatalf("%s: about %d entries fit, yet not %d or more than %d", family, estimate, lo, hi)
			}
			return lo
		}
		plain := most(func(n int) int { return len(marshalReport(rep, rep.NotUp[:n], true)) }, 10_000)
		compressed := most(func(n int) int {
			z, _ := compressReport(marshalReport(rep, rep.NotUp[:n], true), 1<<30)
			return len(z)
		}, 40_000)
		key, enc, dropped := encodeReport(model.NewProbeReport("r1", at, notUp[:compressed], probed), maxReportBytes)
		if key != reportGzAnnotation || dropped != "" {
			t.Errorf("%s: %d targets are written in %s, dropping %q", family, compressed, key, dropped)
		}
		if got, err := decodeReport(map[string]string{key: enc}); err != nil || len(got.NotUp) != compressed {
			t.Errorf("%s: %d of %d targets read back: %v", family, len(got.NotUp), compressed, err)
		}
		t.Logf("%s, %d services probed: %d down targets with their reasons fit as JSON (%d bytes each), %d compressed (%.1f bytes each)",
			family, len(probed), plain, maxReportBytes/plain, compressed, float64(maxReportBytes)/float64(compressed))
		wantPlain := map[string][2]int{"IPv4": {5_500, 6_500}, "IPv6": {3_000, 3_600}}[family]
		wantCompressed := map[string][2]int{"IPv4": {50_000, 60_000}, "IPv6": {50_000, 60_000}}[family]
		if plain < wantPlain[0] || plain > wantPlain[1] || compressed < wantCompressed[0] || compressed > wantCompressed[1] {
			t.Errorf("%s: %d fit as JSON, %d compressed, not what the comment on wireReport says", family, plain, compressed)
		}
	}
}

func TestHealthLabelValue(t *testing.T) {
	if got := labelValue("overrides"); got != "overrides" {
		t.Errorf("labelValue(overrides) = %q", got)
	}
	long := strings.Repeat("a", 60) + ".example.org"
	got, other := labelValue(long), labelValue(long+"x")
	if errs := validation.IsValidLabelValue(got); len(errs) > 0 || got == other {
		t.Errorf("labelValue of a 72-character name = %q (%v); of another %q", got, errs, other)
	}
}
