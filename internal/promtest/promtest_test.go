package promtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const rulesDir = "../../deploy/prometheus"

// promtool returns the built promtool, or fails the test saying why.
func promtool(t *testing.T) string {
	t.Helper()
	bin, err := Promtool()
	if err != nil {
		t.Fatalf("promtool is needed to test the alerting rules and could not be built: %v", err)
	}
	return bin
}

// run runs promtool with args in the rules' directory.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = rulesDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtoolVersion: the binary is the pinned release.
func TestPromtoolVersion(t *testing.T) {
	bin := promtool(t)
	_, release, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, bin, "--version")
	if !strings.Contains(out, "version "+release) {
		t.Errorf("promtool --version says\n%s\nwant version %s", out, release)
	}
	t.Logf("%s", strings.SplitN(out, "\n", 2)[0])
}

// TestAlertRules checks deploy/prometheus/meridian-rules.yaml (syntax,
// PromQL, templates, best-practice lint) and runs its unit tests,
// meridian-rules.test.yaml.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	t.Log(run(t, bin, "check", "rules", "--lint=all", "--lint-fatal", "meridian-rules.yaml"))
	t.Log(run(t, bin, "test", "rules", "meridian-rules.test.yaml"))
}

// TestChartShipsTheRules: the Helm chart's copy of the rules (which its
// PrometheusRule template reads; a chart cannot read files outside its
// directory) is the tested file, byte for byte.
func TestChartShipsTheRules(t *testing.T) {
	want, err := os.ReadFile(rulesDir + "/meridian-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const copyPath = "../../deploy/helm/meridian/files/meridian-rules.yaml"
	got, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s/meridian-rules.yaml: copy the tested rules there", copyPath, rulesDir)
	}
}
