package api

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// crashStoreEnv, when set to a store's path, makes this test binary the
// child of TestStoreSurvivesSIGKILL: it writes overrides to the store
// without end, printing "acked ID" as each Put returns and "deleting ID"
// before each Delete.
const crashStoreEnv = "MERIDIAN_CRASH_STORE"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashStoreEnv); path != "" {
		if err := writeForever(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if path := os.Getenv(crashSerialsEnv); path != "" {
		if err := writeSerialsForever(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func writeForever(path string) error {
	s, err := OpenFileStore(path)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	n := 0
	if list := s.List(); len(list) > 0 { // continue after the last ID
		fmt.Sscanf(list[len(list)-1].ID, "o-%d", &n)
		n++
	}
	for ; ; n++ {
		id := fmt.Sprintf("o-%05d", n)
		o := model.Override{ID: id, Kind: model.Drain, Cluster: "eu-west", Reason: strings.Repeat("r", n%300), Author: "crash", Created: time.Now()}
		if n%3 == 2 { // some deletes too: from here on o-(n-1) may be gone
			fmt.Printf("deleting o-%05d\n", n-1)
			if _, err := s.Delete(fmt.Sprintf("o-%05d", n-1)); err != nil {
				return err
			}
		}
		if _, err := s.Put(o); err != nil {
			return err
		}
		fmt.Printf("acked %s\n", id)
	}
}

// TestStoreSurvivesSIGKILL kills a process writing overrides at random
// moments, 200 times, and checks after each kill that the file parses and
// holds every override the process acknowledged and did not delete.
func TestStoreSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overrides.json")
	want := map[string]bool{}
	total := 0
	for round := range 200 {
		// Kill it at a random moment of its writing.
		for _, line := range killAtRandom(t, crashStoreEnv, path, 40*time.Millisecond) {
			verb, id, _ := strings.Cut(line, " ")
			switch verb {
			case "acked":
				want[id] = true
				total++
			case "deleting":
				delete(want, id)
			}
		}
		s, err := OpenFileStore(path)
		if err != nil {
			t.Fatalf("round %d: the store does not open after a kill: %v", round, err)
		}
		have := map[string]bool{}
		for _, o := range s.List() {
			have[o.ID] = true
		}
		for id := range want {
			if !have[id] {
				t.Fatalf("round %d: acknowledged override %s is lost", round, id)
			}
		}
	}
	if total < 200 {
		t.Errorf("only %d overrides were acknowledged in 200 rounds; the kills came too early to test much", total)
	}
	t.Logf("%d overrides acknowledged over 200 kills, %d kept", total, len(want))
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".overrides.json.*"))
	if len(left) > 1 {
		t.Errorf("%d temporary files left behind: %v", len(left), left)
	}
}

func TestOpenFileStoreRefusesACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overrides.json")
	os.WriteFile(path, []byte(`{"overrides": [{"id": "x", "kind": "drain"`), 0o600)
	if _, err := OpenFileStore(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a torn file opened: err = %v", err)
	}
	os.WriteFile(path, []byte(`{"overrides": [{"id": "x", "kind": "melt", "reason": "r", "created": "2026-01-01T00:00:00Z"}]}`), 0o600)
	if _, err := OpenFileStore(path); err == nil || !strings.Contains(err.Error(), `unknown kind "melt"`) {
		t.Errorf("an unknown kind opened: err = %v", err)
	}
}

// killAtRandom runs this test binary as a child process with env set to
// path (its TestMain then writes there, printing "ready" and what it has
// done), kills it with SIGKILL at a random moment within the given time,
// and returns the lines it printed after "ready".
func killAtRandom(t *testing.T, env, path string, within time.Duration) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run", "^$")
	child.Env = append(os.Environ(), env+"="+path)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("the child did not start: %q", sc.Text())
	}
	time.Sleep(rand.N(within))
	child.Process.Signal(syscall.SIGKILL)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := child.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the child ended with %v, not killed", err)
	}
	return lines
}
