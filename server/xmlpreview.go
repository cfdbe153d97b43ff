package server

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
	"github.com/tributary-io/tributary/xmlmap"
)

// xmlPreview maps the first records of a stored file without storing anything. The file,
// kind and mapping come from the request, or from a preset or an XML import task.
type xmlPreview struct {
	// TaskID previews with an XML import task's kind, mapping and file, where the request
	// gives none.
	TaskID *uuid.UUID `json:"task_id"`
	FileID *uuid.UUID `json:"file_id"`
	Kind   string     `json:"kind" validate:"omitempty,oneof=assets events vulnerabilities"`
	// Preset uses a preset's mapping (and kind).
	Preset  string          `json:"preset" validate:"max=100"`
	Mapping *xmlmap.Mapping `json:"mapping"`
	Limit   int             `json:"limit" validate:"omitempty,min=1,max=100"`
}

// resolve fills the kind, mapping and file from the preset or the task.
func (in *xmlPreview) resolve(c *gin.Context, a *api) error {
	if in.Preset != "" {
		p, ok := tasktype.XMLPreset(in.Preset)
		if !ok {
			return valid.Field("preset", "unknown preset %q (GET /api/v1/xml-imports/presets lists them)", in.Preset)
		}
		if in.Mapping != nil {
			return valid.Field("mapping", "give a preset or a mapping, not both")
		}
		in.Kind, in.Mapping = p.Kind, &p.Mapping
	}
	if in.TaskID != nil {
		t, err := a.Store.Tasks.Get(c, *in.TaskID)
		if errors.Is(err, store.ErrNotFound) {
			return valid.Field("task_id", "there is no such task")
		}
		if err != nil {
			return err
		}
		cfg, err := tasktype.DecodeStored(t.Type, t.Config)
		if err != nil {
			return err
		}
		x, ok := cfg.(*tasktype.XMLImportConfig)
		if !ok {
			return valid.Field("task_id", "task %s is a %s task, not an XML import", t.Name, t.Type)
		}
		if in.Kind != "" && in.Kind != x.Kind() {
			return valid.Field("kind", "the task imports %s", x.Kind())
		}
		in.Kind = x.Kind()
		if in.Mapping == nil {
			m := x.EffectiveMapping()
			in.Mapping = &m
		}
		if in.FileID == nil {
			if x.FileID == nil {
				return valid.Field("file_id", "is required: the task fetches its file when it runs (upload a sample with POST /api/v1/files)")
			}
			in.FileID = x.FileID
		}
	}
	var fs []valid.FieldError
	if in.FileID == nil {
		fs = append(fs, valid.FieldError{Field: "file_id", Message: "is required (or task_id of a task with a file)"})
	}
	if in.Kind == "" {
		fs = append(fs, valid.FieldError{Field: "kind", Message: "is required (or a preset or task_id)"})
	}
	if in.Mapping == nil {
		fs = append(fs, valid.FieldError{Field: "mapping", Message: "is required (or a preset or task_id)"})
	}
	return valid.Fields(fs...)
}

type previewRecord struct {
	Number int                 `json:"number"`
	Line   int                 `json:"line"`
	Values map[string]any      `json:"values"`
	Errors []xmlmap.FieldError `json:"errors"`
}

type previewFileError struct {
	Record  int    `json:"record,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

type previewResponse struct {
	Records []previewRecord `json:"records"`
	// Targets are the fields the kind can fill, and which of them are required.
	Targets []string `json:"targets"`
	// FileError is a problem of the file itself, found before Limit records were read.
	FileError  *previewFileError `json:"file_error,omitempty"`
	DurationMS int64             `json:"duration_ms"`
}

// errPreviewDone stops the reading once enough records are mapped.
var errPreviewDone = errors.New("enough records")

// previewXML maps the first records (default 20) of an uploaded file with a mapping, so an
// admin can get a mapping right before the first run. Nothing is stored.
func (a *api) previewXML(c *gin.Context) (int, any, error) {
	var in xmlPreview
	if err := bindBody(c, &in, false); err != nil {
		return 0, nil, err
	}
	if err := in.resolve(c, a); err != nil {
		return 0, nil, err
	}
	if in.Limit == 0 {
		in.Limit = 20
	}
	targets := tasktype.XMLTargets[in.Kind]
	m, err := xmlmap.Compile(*in.Mapping, targets)
	if err != nil {
		return 0, nil, valid.Prefix("mapping", err)
	}
	start := time.Now()
	out := previewResponse{Records: []previewRecord{}}
	for _, t := range targets {
		name := t.Name
		if t.Required {
			name += " (required)"
		}
		out.Targets = append(out.Targets, name)
	}
	sort.Strings(out.Targets)
	var tables xmlmap.Tables
	if m.HasLookups() {
		r, err := a.Store.Files.Open(c, *in.FileID)
		if err != nil {
			return 0, nil, fileRef(err)
		}
		tables, err = m.ReadLookups(r, xmlmap.LookupOptions{})
		r.Close()
		if err != nil {
			return a.previewFailed(out, err, start)
		}
	}
	r, err := a.Store.Files.Open(c, *in.FileID)
	if err != nil {
		return 0, nil, fileRef(err)
	}
	defer r.Close()
	_, err = m.Records(r, xmlmap.ReadOptions{}, func(rec *xmlmap.Record) error {
		vals, errs := m.Evaluate(rec, tables)
		if errs == nil {
			errs = []xmlmap.FieldError{}
		}
		out.Records = append(out.Records, previewRecord{Number: rec.Number, Line: rec.Line, Values: vals, Errors: errs})
		if len(out.Records) == in.Limit {
			return errPreviewDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPreviewDone) {
		return a.previewFailed(out, err, start)
	}
	out.DurationMS = time.Since(start).Milliseconds()
	return http.StatusOK, out, nil
}

// previewFailed answers the records read before a file error, and the error.
func (a *api) previewFailed(out previewResponse, err error, start time.Time) (int, any, error) {
	var fe *xmlmap.Error
	if !errors.As(err, &fe) {
		return 0, nil, err
	}
	out.FileError = &previewFileError{Record: fe.Record, Line: fe.Line, Message: fe.Error()}
	out.DurationMS = time.Since(start).Milliseconds()
	return http.StatusOK, out, nil
}

// fileRef makes a missing file a bad reference in the request.
func fileRef(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return valid.Field("file_id", "there is no such file (upload it with POST /api/v1/files)")
	}
	return err
}

// xmlPresets lists the built-in mappings of vendors' XML formats, with the mapping each
// expands to, so that a customer can start from one.
func (a *api) xmlPresets(*gin.Context) (int, any, error) {
	return http.StatusOK, page[tasktype.XMLImportPreset]{Items: tasktype.XMLPresets()}, nil
}

// recordIssues lists the record issues of an import run: failed and skipped records and
// warnings, in record order; the cursor is the last record number of the previous page.
func (a *api) recordIssues() gin.HandlerFunc {
	type filter struct {
		run     uuid.UUID
		outcome string
		after   int
		limit   int
	}
	return listing(a, []string{"outcome"}, func(c *gin.Context, q *query) (filter, error) {
		id, err := pathUUID(c)
		if err != nil {
			return filter{}, err
		}
		if _, err := a.Store.Runs.Get(c, id); err != nil {
			return filter{}, err
		}
		f := filter{run: id, outcome: q.enum("outcome", store.IssueFailed, store.IssueSkipped, store.IssueWarning), limit: q.limit()}
		if cur := q.Get("cursor"); cur != "" {
			if f.after, err = strconv.Atoi(cur); err != nil || f.after < 0 {
				q.fs = append(q.fs, valid.FieldError{Field: "cursor", Message: "is not a cursor of this listing"})
			}
		}
		return f, nil
	}, func(ctx context.Context, f filter) ([]store.RecordIssue, string, error) {
		list, err := a.Store.RecordIssues(ctx, f.run, f.outcome, f.after, f.limit+1)
		if err != nil || len(list) <= f.limit {
			return list, "", err
		}
		// Keep whole records on a page: cut before the last record number shown.
		list = list[:f.limit]
		last := list[len(list)-1].Number
		cut := len(list)
		for cut > 0 && list[cut-1].Number == last {
			cut--
		}
		if cut == 0 {
			return list, strconv.Itoa(last), nil
		}
		return list[:cut], strconv.Itoa(list[cut-1].Number), nil
	}, func(is *store.RecordIssue) store.RecordIssue { return *is })
}
