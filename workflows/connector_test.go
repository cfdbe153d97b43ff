package workflows

import (
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

func newConnectorEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Runs{})
	env.RegisterActivity(&activities.Connectors{})
	return env
}

func syncInput() ConnectorRunInput {
	return ConnectorRunInput{RunID: "6f1c1c3e-8c53-4c55-9d38-2f4f3b2b1a10", ConnectorID: "0b7e5a3c-2d2f-4b1e-9a53-0d7c1a1f9e21",
		ConnectorName: "Qualys EU", ToolType: "qualys", Operation: OpSync, Trigger: store.TriggerAPI, MaxAttempts: 1}
}

// One record failing does not lose the others' results: every record is attempted, counts
// add up over the records that succeeded, and the run fails naming the failed record.
func TestSyncContinuesPastAFailedRecord(t *testing.T) {
	env := newConnectorEnv()
	var end activities.RunEnd
	env.OnActivity("RecordRunStart", mock.Anything, mock.Anything).Return(nil)
	env.OnActivity("MappedRecords", mock.Anything, mock.Anything).Return([]activities.RecordRef{{ID: "r1", Name: "Web"}, {ID: "r2", Name: "DMZ"}, {ID: "r3", Name: "Office"}}, nil)
	env.OnActivity("SyncRecord", mock.Anything, mock.MatchedBy(func(in activities.RecordInput) bool { return in.RecordID != "r2" })).
		Return(activities.RecordOutput{Counts: map[string]int64{"total": 10, "created": 4, "unchanged": 6}}, nil).Twice()
	env.OnActivity("SyncRecord", mock.Anything, mock.MatchedBy(func(in activities.RecordInput) bool { return in.RecordID == "r2" })).
		Return(activities.RecordOutput{}, temporal.NewNonRetryableApplicationError("Qualys: host detections of asset group 7, page 2: the body is truncated", "Vendor.bad_response", nil)).Once()
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) { end = args.Get(1).(activities.RunEnd) }).Return(nil)
	env.ExecuteWorkflow(ConnectorOperationWorkflow, syncInput())
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	require.Equal(t, store.StatusFailed, end.Status)
	require.Equal(t, int64(8), end.Counts["created"])
	require.Equal(t, int64(2), end.Counts["records_synced"])
	require.Equal(t, int64(1), end.Counts["records_failed"])
	require.Contains(t, end.Error, `1 of 3 records failed: record "DMZ": Qualys: host detections of asset group 7, page 2`)
	recs := end.Details.(map[string]any)["records"].([]RecordResult)
	require.Len(t, recs, 3)
	require.Equal(t, store.StatusFailed, recs[1].Status)
	env.AssertExpectations(t)
}

// Bad credentials fail every record alike: the sync stops after the first.
func TestSyncStopsOnBadCredentials(t *testing.T) {
	env := newConnectorEnv()
	var end activities.RunEnd
	env.OnActivity("RecordRunStart", mock.Anything, mock.Anything).Return(nil)
	env.OnActivity("MappedRecords", mock.Anything, mock.Anything).Return([]activities.RecordRef{{ID: "r1", Name: "Web"}, {ID: "r2", Name: "DMZ"}}, nil)
	env.OnActivity("SyncRecord", mock.Anything, mock.Anything).
		Return(activities.RecordOutput{}, temporal.NewNonRetryableApplicationError("Qualys: list: HTTP 401 (code 2000): Bad Login/Password", "Vendor.bad_credentials", nil)).Once()
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) { end = args.Get(1).(activities.RunEnd) }).Return(nil)
	env.ExecuteWorkflow(ConnectorOperationWorkflow, syncInput())
	require.Equal(t, store.StatusFailed, end.Status)
	require.Equal(t, int64(1), end.Counts["records_not_attempted"])
	env.AssertExpectations(t)
}

func TestDiscoverRecordsCounts(t *testing.T) {
	env := newConnectorEnv()
	var end activities.RunEnd
	in := syncInput()
	in.Operation = OpDiscover
	env.OnActivity("RecordRunStart", mock.Anything, mock.MatchedBy(func(s activities.RunStart) bool { return s.Kind == store.KindConnectorDiscover })).Return(nil)
	env.OnActivity("DiscoverConnector", mock.Anything, activities.ConnectorInput{RunID: in.RunID, ConnectorID: in.ConnectorID}).
		Return(activities.DiscoverOutput{Counts: map[string]int64{"found": 3, "created": 1}}, nil)
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) { end = args.Get(1).(activities.RunEnd) }).Return(nil)
	env.ExecuteWorkflow(ConnectorOperationWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, store.StatusSucceeded, end.Status)
	require.Equal(t, int64(3), end.Counts["found"])
}
