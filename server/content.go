package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
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
	Watermark    *time.Time      `json:"watermark,omitempty"`
}

func contentVersionResponse(v *store.ContentVersion) contentVersionView {
	return contentVersionView{ID: v.ID, Source: v.Source, Version: v.Version, ReleasedAt: v.ReleasedAt, TaskID: v.TaskID, RunID: v.RunID,
		Items: v.Items, Counts: v.Counts, SHA256: v.SHA256, Current: v.Current, AppliedAt: v.AppliedAt, RolledBackAt: v.RolledBackAt,
		Watermark: v.Watermark}
}

var contentSources = []string{"kev", "nvd", "attack", "oscal"}

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

// contentItemView is an item of the NVD, ATT&CK or OSCAL content.
type contentItemView struct {
	ID          int64           `json:"id"`
	Source      string          `json:"source"`
	Origin      string          `json:"origin"`
	ItemID      string          `json:"item_id"`
	Kind        string          `json:"kind"`
	ExternalID  string          `json:"external_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Score       *float64        `json:"score"`
	Severity    string          `json:"severity"`
	State       string          `json:"state"`
	Modified    *time.Time      `json:"modified"`
	Current     bool            `json:"current"`
	VersionID   *int64          `json:"version_id"`
	CopiedFrom  *int64          `json:"copied_from"`
	Data        json.RawMessage `json:"data,omitempty"`
	// Relationships are an ATT&CK item's, on its own page.
	Relationships []store.Relationship `json:"relationships,omitempty"`
}

func contentItemResponse(it *store.ContentItem, full bool) contentItemView {
	out := contentItemView{ID: it.ID, Source: it.Source, Origin: it.Origin, ItemID: it.ItemID, Kind: it.Kind, ExternalID: it.ExternalID, Name: it.Name,
		Description: it.Description, Score: it.Score, Severity: it.Severity, State: it.State, Modified: it.Modified, Current: it.ToVersion == nil,
		VersionID: it.FromVersion, CopiedFrom: it.CopiedFrom}
	if full {
		out.Data = it.Data
	}
	return out
}

var contentItemSources = []string{"nvd", "attack", "oscal"}

// listContentItems lists and searches the current NVD, ATT&CK and OSCAL items.
func (a *api) listContentItems() gin.HandlerFunc {
	return listing(a, []string{"source", "kind", "origin", "state", "external_id", "q"},
		func(_ *gin.Context, q *query) (store.ContentItemFilter, error) {
			return store.ContentItemFilter{Source: q.enum("source", contentItemSources...), Kind: q.text("kind", 64),
				Origin: q.enum("origin", append(contentItemSources, store.OriginCustomer)...), State: q.enum("state", "active", "deprecated", "revoked", "rejected", "withdrawn"),
				ExternalID: q.text("external_id", 100), Query: q.text("q", 200), Limit: q.limit(), Cursor: q.Get("cursor")}, nil
		}, func(ctx context.Context, f store.ContentItemFilter) ([]store.ContentItem, string, error) {
			return a.Store.ListContentItems(ctx, f)
		}, func(it *store.ContentItem) contentItemView { return contentItemResponse(it, false) })
}

// getContentItem shows an item with its data and, for ATT&CK, its relationships.
func (a *api) getContentItem(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	it, err := a.Store.GetContentItem(c, id)
	if err != nil {
		return 0, nil, err
	}
	out := contentItemResponse(it, true)
	if it.Source == "attack" && it.Kind != "relationship" && out.Current {
		if out.Relationships, err = a.Store.ItemRelationships(c, it.Source, it.Origin, it.ItemID, 500); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, out, nil
}

type contentCopyRequest struct {
	Name        *string `json:"name" validate:"omitempty,min=1,max=1000"`
	Description *string `json:"description" validate:"omitempty,max=200000"`
}

// copyContentItem makes a customer's own copy of a feed's item, which no feed overwrites.
func (a *api) copyContentItem(c *gin.Context) (int, any, error) {
	id, err := pathInt64(c)
	if err != nil {
		return 0, nil, err
	}
	var req contentCopyRequest
	if err := bindJSON(c, &req, true); err != nil {
		return 0, nil, err
	}
	if err := valid.Struct("", &req); err != nil {
		return 0, nil, err
	}
	it, err := a.Store.CopyContentItem(c, id, req.Name, req.Description)
	if err != nil {
		return 0, nil, err
	}
	noteAudit(c, strconv.FormatInt(it.ID, 10), "copied "+it.Source+" "+it.ItemID+" as the customer's own")
	return http.StatusCreated, contentItemResponse(it, true), nil
}
