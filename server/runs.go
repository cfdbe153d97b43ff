package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// maxPageSize caps the limit query parameter of listings.
const maxPageSize = 200

// pageLimit reads the limit query parameter of a listing; "" gives def.
func pageLimit(v string, def int) (int, *valid.FieldError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, &valid.FieldError{Field: "limit", Message: "must be an integer from 1 to " + strconv.Itoa(maxPageSize)}
	}
	return n, nil
}

func (a *api) listRuns(c *gin.Context) {
	f, err := runFilter(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	a.renderRuns(c, f)
}

// renderRuns answers with one page of the runs f selects.
func (a *api) renderRuns(c *gin.Context, f store.RunFilter) {
	list, next, err := a.Store.Runs.List(c, f)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := runList{Items: make([]runResponse, 0, len(list)), NextCursor: next}
	for i := range list {
		out.Items = append(out.Items, a.runView(&list[i], false))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) getRun(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	r, err := a.Store.Runs.Get(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	v := a.runView(r, true)
	if r.Status == store.StatusRunning {
		v.Progress = a.runProgress(c, r)
	}
	c.JSON(http.StatusOK, v)
}

// runProgress asks Temporal for the running run's activity and its last heartbeat; nil when
// Temporal cannot say (the run is shown without it).
func (a *api) runProgress(ctx context.Context, r *store.Run) *runProgress {
	if a.Temporal == nil || r.WorkflowID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, r.WorkflowID, r.WorkflowRunID)
	if err != nil {
		a.Logger.DebugContext(ctx, "run progress unavailable", "run", r.ID, "error", err.Error())
		return nil
	}
	for _, pa := range desc.GetPendingActivities() {
		p := &runProgress{Activity: pa.GetActivityType().GetName(), Attempt: pa.GetAttempt(), State: "unknown"}
		switch pa.GetState() {
		case enumspb.PENDING_ACTIVITY_STATE_SCHEDULED:
			p.State = "scheduled"
		case enumspb.PENDING_ACTIVITY_STATE_STARTED:
			p.State = "started"
		case enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
			p.State = "cancel_requested"
		}
		if t := pa.GetLastHeartbeatTime(); t != nil {
			ht := t.AsTime()
			p.LastHeartbeatAt = &ht
		}
		// Heartbeat details are written by our activities with the default JSON converter.
		if ps := pa.GetHeartbeatDetails().GetPayloads(); len(ps) > 0 && string(ps[0].GetMetadata()["encoding"]) == "json/plain" &&
			len(ps[0].GetData()) <= 16<<10 && bytes.HasPrefix(ps[0].GetData(), []byte("{")) && json.Valid(ps[0].GetData()) {
			p.Heartbeat = ps[0].GetData()
		}
		if f := pa.GetLastFailure(); f != nil {
			p.LastFailure = f.GetMessage()
		}
		return p
	}
	return nil
}

// runFilter reads and checks the query of a run listing.
func runFilter(c *gin.Context) (store.RunFilter, error) {
	q := c.Request.URL.Query()
	f := store.RunFilter{Limit: 50}
	if err := checkQuery(q, "task_id", "connector_id", "kind", "status", "trigger", "started_after", "started_before", "limit", "cursor"); err != nil {
		return f, err
	}
	var fs []valid.FieldError
	bad := func(field, msg string) { fs = append(fs, valid.FieldError{Field: field, Message: msg}) }
	parseTime := func(field string) *time.Time {
		v := q.Get(field)
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad(field, "must be an RFC 3339 time such as 2026-11-24T10:00:00Z")
			return nil
		}
		return &t
	}
	f.TaskID = uuidParam(q, "task_id", &fs)
	f.ConnectorID = uuidParam(q, "connector_id", &fs)
	f.Kind = enumParam(q, "kind", store.Kinds, &fs)
	f.Status = enumParam(q, "status", store.Statuses, &fs)
	f.Trigger = enumParam(q, "trigger", store.Triggers, &fs)
	f.StartedAfter = parseTime("started_after")
	f.StartedBefore = parseTime("started_before")
	if n, fe := pageLimit(q.Get("limit"), f.Limit); fe != nil {
		fs = append(fs, *fe)
	} else {
		f.Limit = n
	}
	if f.StartedAfter != nil && f.StartedBefore != nil && !f.StartedAfter.Before(*f.StartedBefore) {
		bad("started_before", "must be later than started_after")
	}
	f.Cursor = q.Get("cursor")
	return f, valid.Fields(fs...)
}
