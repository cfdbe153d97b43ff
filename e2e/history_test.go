package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// assertHistoryFree fails if secret appears anywhere in the workflow's history.
func assertHistoryFree(t *testing.T, s *stack, workflowID, runID, secret string) {
	t.Helper()
	it := s.client.GetWorkflowHistory(ctxTimeout(t, 30*time.Second), workflowID, runID, false, 0)
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		// protojson shows payloads (bytes) in base64: look in the binary form too, where they
		// are as the SDK wrote them.
		raw, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), secret) || strings.Contains(string(bin), secret) {
			t.Fatalf("the secret appears in event %d (%s) of %s", ev.GetEventId(), ev.GetEventType(), workflowID)
		}
	}
	if events == 0 {
		t.Fatalf("no history for %s/%s", workflowID, runID)
	}
}
