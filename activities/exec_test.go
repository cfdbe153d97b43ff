package activities_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

// execTask runs act (a method of acts) for the run and task in a test activity environment
// and returns its counts, with the details the run recorded (even when it failed) decoded
// into a D.
func execTask[D any](t *testing.T, st *store.Store, acts, act any, runID, taskID uuid.UUID) (map[string]int64, D, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(act, activities.TaskInput{RunID: runID.String(), TaskID: taskID.String()})
	var det D
	if run, gerr := st.Runs.Get(context.Background(), runID); gerr == nil {
		_ = json.Unmarshal(run.Details, &det)
	}
	if err != nil {
		return nil, det, err
	}
	var out activities.TaskOutput
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out.Counts, det, nil
}
