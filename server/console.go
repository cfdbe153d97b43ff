package server

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tributary-io/tributary/console"
)

// consoleFiles serves the web console's embedded files under /console/ ("/console/" is its
// page). They hold no data: the page signs in and reads everything from the API.
func (a *api) consoleFiles() gin.HandlerFunc {
	fsys := http.FS(console.Files())
	files := http.FileServer(fsys)
	return func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("filepath"), "/")
		if name == "" {
			name = "index.html"
		}
		f, err := fsys.Open(name)
		if err != nil || strings.Contains(name, "/") {
			renderError(c, a.Logger, errRouteNotFound)
			return
		}
		f.Close()
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", console.ContentSecurityPolicy)
		h.Set("Cache-Control", "no-cache")
		req := c.Request.Clone(c)
		req.URL.Path = "/" + name
		if name == "index.html" {
			req.URL.Path = "/" // FileServer redirects /index.html to ./
		}
		files.ServeHTTP(c.Writer, req)
	}
}
