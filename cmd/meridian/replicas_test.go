package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// TestLogVoters: replicas that start and stop voting are logged, and one
// counting by another rule is warned about.
func TestLogVoters(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	r2 := model.NewProbeReport("r2", time.Now(), nil, nil)
	r3 := model.NewProbeReport("r3", time.Now(), nil, nil)
	r3.Quorum = "any"
	voting := logVoters(logger, "majority", map[string]bool{}, []model.ProbeReport{r2, r3})
	voting = logVoters(logger, "majority", voting, []model.ProbeReport{r3})
	out := buf.String()
	for _, want := range []string{
		`msg="replica votes on health" peer=r2 voters=3`,
		`msg="replica votes on health" peer=r3 voters=3`,
		`msg="replica counts votes by another health_quorum; the replicas may serve different decisions" peer=r3 peer_quorum=any quorum=majority`,
		`msg="replica's health reports expired; it no longer votes" peer=r2 voters=2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "another health_quorum") != 1 || len(voting) != 1 {
		t.Errorf("voting %v; log:\n%s", voting, out)
	}
}
