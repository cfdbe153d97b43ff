package server

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// directoryObjectView is an imported user, group or computer as the API shows it.
type directoryObjectView struct {
	ID          uuid.UUID  `json:"id"`
	TaskID      uuid.UUID  `json:"task_id"`
	Kind        string     `json:"kind"`
	ExternalID  string     `json:"external_id"`
	DN          string     `json:"dn"`
	Status      string     `json:"status"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Username    *string    `json:"username,omitempty"`
	Email       *string    `json:"email,omitempty"`
	MemberCount *int       `json:"member_count,omitempty"`
	FQDN        *string    `json:"fqdn,omitempty"`
	Hostname    *string    `json:"hostname,omitempty"`
	IPAddresses []string   `json:"ip_addresses,omitempty"`
	OS          *string    `json:"os,omitempty"`
	OSVersion   *string    `json:"os_version,omitempty"`
	ModifiedAt  *time.Time `json:"modified_at"`
	FirstSeenAt time.Time  `json:"first_seen_at"`
	LastSeenAt  time.Time  `json:"last_seen_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func objectView(o *store.DirectoryObject) directoryObjectView {
	v := directoryObjectView{ID: o.ID, TaskID: o.TaskID, Kind: o.Kind, ExternalID: o.ExternalID, DN: o.DN, Status: o.Status,
		Name: o.Name, Description: o.Description, ModifiedAt: o.ModifiedAt, FirstSeenAt: o.FirstSeenAt, LastSeenAt: o.LastSeenAt, UpdatedAt: o.UpdatedAt}
	switch o.Kind {
	case directory.KindUser:
		v.Username, v.Email = &o.Username, &o.Email
	case directory.KindGroup:
		v.MemberCount = &o.MemberCount
	case directory.KindComputer:
		v.FQDN, v.Hostname, v.OS, v.OSVersion = &o.FQDN, &o.Hostname, &o.OS, &o.OSVersion
		v.IPAddresses = o.IPAddresses
		if v.IPAddresses == nil {
			v.IPAddresses = []string{}
		}
	}
	return v
}

type memberView struct {
	DN       string     `json:"dn"`
	MemberID *uuid.UUID `json:"member_id"`
	// Kind is the imported member's kind, or "unresolved" for a DN the task does not import.
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// listParams reads the status (one of statuses), q and limit parameters common to the
// directory and asset listings.
func listParams(q url.Values, statuses ...string) (status string, limit int, fs []valid.FieldError) {
	status = enumParam(q, "status", statuses, &fs)
	if len(q.Get("q")) > 200 {
		fs = append(fs, valid.FieldError{Field: "q", Message: "must be at most 200 characters"})
	}
	limit, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		fs = append(fs, *fe)
	}
	return status, limit, fs
}

// listDirectory returns the handler listing objects of kind.
func (a *api) listDirectory(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		if err := checkQuery(q, "task_id", "status", "q", "limit", "cursor"); err != nil {
			renderError(c, a.Logger, err)
			return
		}
		f := store.ObjectFilter{Kind: kind, Query: q.Get("q"), Cursor: q.Get("cursor")}
		var fs []valid.FieldError
		f.TaskID = uuidParam(q, "task_id", &fs)
		var more []valid.FieldError
		f.Status, f.Limit, more = listParams(q, store.ObjectActive, store.ObjectDisabled, store.ObjectRemoved)
		if err := valid.Fields(append(fs, more...)...); err != nil {
			renderError(c, a.Logger, err)
			return
		}
		list, next, err := a.Store.Directory.ListObjects(c, f)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		out := page[directoryObjectView]{Items: make([]directoryObjectView, 0, len(list)), NextCursor: next}
		for i := range list {
			out.Items = append(out.Items, objectView(&list[i]))
		}
		c.JSON(http.StatusOK, out)
	}
}

// getDirectory returns the handler reading one object of kind.
func (a *api) getDirectory(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathUUID(c)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		o, err := a.Store.Directory.GetObject(c, kind, id)
		if err != nil {
			renderError(c, a.Logger, err)
			return
		}
		c.JSON(http.StatusOK, objectView(o))
	}
}

func (a *api) listGroupMembers(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	q := c.Request.URL.Query()
	if err := checkQuery(q, "limit", "cursor"); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	n, fe := pageLimit(q.Get("limit"), 50)
	if fe != nil {
		renderError(c, a.Logger, valid.Fields(*fe))
		return
	}
	if _, err := a.Store.Directory.GetObject(c, directory.KindGroup, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	list, next, err := a.Store.Directory.ListMembers(c, id, q.Get("cursor"), n)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	out := page[memberView]{Items: make([]memberView, 0, len(list)), NextCursor: next}
	for _, m := range list {
		kind := m.MemberKind
		if m.MemberID == nil {
			kind = "unresolved"
		}
		out.Items = append(out.Items, memberView{DN: m.MemberDN, MemberID: m.MemberID, Kind: kind, Name: m.MemberName})
	}
	c.JSON(http.StatusOK, out)
}

// testConnection runs a task's connection test (LDAP bind and base DNs, or one scanner request).
func (a *api) testConnection(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	rep, err := a.tasks.TestConnection(c, id, 20*time.Second)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
