package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/store"
)

// Unit tests of the workflow logic with mocked activities; the e2e package runs the same
// workflows against a real Temporal server and Postgres.

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Runs{})
	env.RegisterActivity(&activities.HTTPCalls{})
	return env
}

func input() TaskRunInput {
	return TaskRunInput{RunID: "6f1c1c3e-8c53-4c55-9d38-2f4f3b2b1a10", TaskID: "0b7e5a3c-2d2f-4b1e-9a53-0d7c1a1f9e21",
		TaskType: "http_call", TaskName: "ping", Trigger: store.TriggerAPI, MaxDuration: time.Minute, MaxAttempts: 2}
}

func TestIntegrationTaskRecordsSuccess(t *testing.T) {
	env := newEnv(t)
	var end activities.RunEnd
	env.OnActivity("RecordRunStart", mock.Anything, mock.MatchedBy(func(s activities.RunStart) bool {
		return s.RunID == input().RunID && s.Kind == store.KindTask && s.Trigger == store.TriggerAPI
	})).Return(nil).Once()
	env.OnActivity("ExecuteHTTPCall", mock.Anything, activities.TaskInput{RunID: input().RunID, TaskID: input().TaskID}).
		Return(activities.TaskOutput{Counts: map[string]int64{"requests": 1}}, nil).Once()
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		end = args.Get(1).(activities.RunEnd)
	}).Return(nil).Once()
	env.ExecuteWorkflow(IntegrationTaskWorkflow, input())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, store.StatusSucceeded, end.Status)
	require.Equal(t, int64(1), end.Counts["requests"])
	require.Empty(t, end.Error)
	env.AssertExpectations(t)
}

func TestIntegrationTaskRecordsFailureWithReadableMessage(t *testing.T) {
	env := newEnv(t)
	var end activities.RunEnd
	env.OnActivity("RecordRunStart", mock.Anything, mock.Anything).Return(nil)
	env.OnActivity("ExecuteHTTPCall", mock.Anything, mock.Anything).Return(activities.TaskOutput{},
		temporal.NewNonRetryableApplicationError("GET https://x.test/ answered 404 Not Found; expected a 2xx status", activities.ErrTypeUnexpectedCode, nil))
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		end = args.Get(1).(activities.RunEnd)
	}).Return(nil)
	env.ExecuteWorkflow(IntegrationTaskWorkflow, input())
	require.Equal(t, store.StatusFailed, end.Status)
	require.Equal(t, "GET https://x.test/ answered 404 Not Found; expected a 2xx status", end.Error)
	var app *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &app))
	require.Equal(t, ErrTypeTaskFailed, app.Type())
}

func TestIntegrationTaskTimesOutAtMaxDuration(t *testing.T) {
	env := newEnv(t)
	var end activities.RunEnd
	env.OnActivity("RecordRunStart", mock.Anything, mock.Anything).Return(nil)
	env.OnActivity("ExecuteHTTPCall", mock.Anything, mock.Anything).After(10*time.Minute).Return(activities.TaskOutput{}, nil)
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		end = args.Get(1).(activities.RunEnd)
	}).Return(nil)
	env.ExecuteWorkflow(IntegrationTaskWorkflow, input())
	require.Equal(t, store.StatusTimedOut, end.Status)
	require.Contains(t, end.Error, "maximum duration of 1m0s")
	var app *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &app))
	require.Equal(t, ErrTypeTaskTimedOut, app.Type())
}

func TestIntegrationTaskFailsForUnknownType(t *testing.T) {
	env := newEnv(t)
	var end activities.RunEnd
	in := input()
	in.TaskType = "no_such_type"
	env.OnActivity("RecordRunStart", mock.Anything, mock.Anything).Return(nil)
	env.OnActivity("RecordRunEnd", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		end = args.Get(1).(activities.RunEnd)
	}).Return(nil)
	env.ExecuteWorkflow(IntegrationTaskWorkflow, in)
	require.Equal(t, store.StatusFailed, end.Status)
	require.Contains(t, end.Error, `does not know task type "no_such_type"`)
}

func TestKeys(t *testing.T) {
	require.Equal(t, "task-type/http_call", TaskWorkflowID("http_call"))
	require.Equal(t, "connector/42/sync", ConnectorWorkflowID("42", "sync"))
	require.Equal(t, "task/abc", TaskScheduleID("abc"))
	require.Equal(t, "connector/abc/discover", ConnectorScheduleID("abc", OpDiscover))
	require.Len(t, SearchAttributes, 6)
}
