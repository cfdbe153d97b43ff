package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// assertHistoryFree fails if secret appears anywhere in the workflow's history.
func assertHistoryFree(t *testing.T, s *stack, workflowID, runID, secret string) {
	t.Helper()
	events := 0
	eachHistoryEvent(t, s, ctxTimeout(t, 30*time.Second), workflowID, runID, func(ev *historypb.HistoryEvent, text string) {
		events++
		if strings.Contains(text, secret) {
			t.Fatalf("the secret appears in event %d (%s) of %s", ev.GetEventId(), ev.GetEventType(), workflowID)
		}
	})
	if events == 0 {
		t.Fatalf("no history for %s/%s", workflowID, runID)
	}
}

// eachHistoryEvent calls fn with every event of a workflow execution's history and the
// event as text: its JSON and its binary form (protojson shows payloads, which are bytes, in
// base64; in the binary form they are as the SDK wrote them).
func eachHistoryEvent(t *testing.T, s *stack, ctx context.Context, workflowID, runID string, fn func(ev *historypb.HistoryEvent, text string)) {
	t.Helper()
	it := s.client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		js, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		fn(ev, string(js)+string(bin))
	}
}
