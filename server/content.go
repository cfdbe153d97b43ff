package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

type contentVersionView struct {
	ID           int64           `json:"id"`
	Source       string          `json:"source"`
	Version      string          `json:"version"`
	ReleasedAt   *time.Time      `json:"released_at"`
	TaskID       *uuid.UUID      `json:"task_id"`
	RunID        uuid.UUID       `json:"run_id"`
	Items        int             `json:"items"`
	Counts       json.RawMessage `json:"counts"`
	SHA256       string          `json:"sha256"`
	Current      bool            `json:"current"`
	AppliedAt    time.Time       `json:"applied_at"`
	RolledBackAt *time.Time      `json:"rolled_back_at"`
}

func contentVersionResponse(v *store.ContentVersion) contentVersionView {
	return contentVersionView{ID: v.ID, Source: v.Source, Version: v.Version, ReleasedAt: v.ReleasedAt, TaskID: v.TaskID, RunID: v.RunID,
		Items: v.Items, Counts: v.Counts, SHA256: v.SHA256, Current: v.Current, AppliedAt: v.AppliedAt, RolledBackAt: v.RolledBackAt}
}

var contentSources = []string{"kev"}

// listContentVersions lists the Live Update content versions, newest first.
func (a *api) listContentVersions(c *gin.Context) (int, any, error) {
	q := &query{Values: c.Request.URL.Query()}
	if err := checkQuery(q.Values, "source", "limit"); err != nil {
		return 0, nil, err
	}
	source, limit := q.enum("source", contentSources...), q.limit()
	if err := valid.Fields(q.fs...); err != nil {
		return 0, nil, err
	}
	list, err := a.Store.ContentVersions(c, source, limit)
	if err != nil {
		return 0, nil, err
	}
	out := page[contentVersionView]{Items: make([]contentVersionView, 0, len(list))}
	for i := range list {
		out.Items = append(out.Items, contentVersionResponse(&list[i]))
	}
	return http.StatusOK, out, nil
}

// rollbackContent makes a source's previous version current again.
func (a *api) rollbackContent(c *gin.Context) (int, any, error) {
	source := c.Param("source")
	known := false
	for _, s := range contentSources {
		known = known || s == source
	}
	if !known {
		return 0, nil, valid.Field("source", "unknown content source %q", source)
	}
	v, err := a.Store.RollbackContent(c, source)
	if err != nil {
		return 0, nil, err
	}
	noteAudit(c, source, "rolled "+source+" back to version "+v.Version)
	return http.StatusOK, contentVersionResponse(v), nil
}
