package server

import (
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// filesPath is the upload route: its body is a file, not JSON, and takes the upload limits.
const filesPath = "/api/v1/files"

// isUpload says whether the request is a file upload.
func isUpload(c *gin.Context) bool {
	return c.Request.Method == http.MethodPost && c.FullPath() == filesPath
}

type fileView struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	// Existed is true when the same bytes were stored already (the stored file is answered).
	Existed bool `json:"existed"`
}

func fileResponse(f *store.File) fileView {
	return fileView{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256, ContentType: f.ContentType, CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt}
}

// uploadFile stores the body as a file for the XML imports: ?name= names it; the body is the
// file (application/xml, text/xml or application/octet-stream), streamed to the store.
func (a *api) uploadFile(c *gin.Context) (int, any, error) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, "name"); err != nil {
		return 0, nil, err
	}
	name := strings.TrimSpace(q.Get("name"))
	switch {
	case name == "":
		return 0, nil, valid.Field("name", "is required: the file's name, such as nexpose-export.xml")
	case len([]rune(name)) > 400:
		return 0, nil, valid.Field("name", "must be at most 400 characters")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == '/' || r == '\\' }):
		return 0, nil, valid.Field("name", "must not contain control characters or path separators")
	}
	ct, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (ct != "application/xml" && ct != "text/xml" && ct != "application/octet-stream" && !strings.HasSuffix(ct, "+xml")) {
		return 0, nil, errUnsupportedUpload
	}
	// A large file takes longer to send than an API call may.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(a.UploadTimeout))
	f, existed, err := a.Store.Files.Put(c, &store.File{Name: name, ContentType: ct, CreatedBy: principal(c).Name, CreatedAt: time.Now().UTC()},
		c.Request.Body, a.MaxUploadBytes)
	if err != nil {
		return 0, nil, err
	}
	noteAudit(c, f.ID.String(), "uploaded file "+f.Name)
	v := fileResponse(f)
	if existed {
		v.Existed = true
		return http.StatusOK, v, nil
	}
	c.Header("Location", filesPath+"/"+f.ID.String())
	return http.StatusCreated, v, nil
}

func (a *api) listFiles(c *gin.Context) (int, any, error) {
	q := &query{Values: c.Request.URL.Query()}
	if err := checkQuery(q.Values, "limit"); err != nil {
		return 0, nil, err
	}
	limit := q.limit()
	if err := valid.Fields(q.fs...); err != nil {
		return 0, nil, err
	}
	list, err := a.Store.Files.List(c, limit)
	if err != nil {
		return 0, nil, err
	}
	out := page[fileView]{Items: make([]fileView, 0, len(list))}
	for i := range list {
		out.Items = append(out.Items, fileResponse(&list[i]))
	}
	return http.StatusOK, out, nil
}

func (a *api) getFile(c *gin.Context) (int, any, error) {
	id, err := pathUUID(c)
	if err != nil {
		return 0, nil, err
	}
	f, err := a.Store.Files.Get(c, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, fileResponse(f), nil
}

// fileContent streams a file's bytes back.
func (a *api) fileContent(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	f, err := a.Store.Files.Get(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	r, err := a.Store.Files.Open(c, id)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	defer r.Close()
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	c.DataFromReader(http.StatusOK, f.Size, "application/octet-stream", r, nil)
}

func (a *api) deleteFile(c *gin.Context) {
	id, err := pathUUID(c)
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := a.Store.Files.Delete(c, id); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	noteAudit(c, id.String(), "deleted file")
	c.Status(http.StatusNoContent)
}
