package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/valid"
)

// The web console signs in with an API token once and then uses the same API with a session
// cookie instead of the Authorization header. The cookie holds the token and a CSRF secret,
// sealed with the server's keyring (so it can be neither read nor forged, and every API server
// of a deployment accepts it); every request still authenticates the token, so revoking it
// ends the session at once. Changes need the CSRF secret in the X-CSRF-Token header as well.
const (
	sessionCookie = "tributary_session"
	csrfHeader    = "X-CSRF-Token"
	// SessionLifetime is how long a console session lasts.
	SessionLifetime = 12 * time.Hour
)

var errCSRF = errors.New("csrf")

type session struct {
	Token   string    `json:"t"`
	CSRF    string    `json:"c"`
	Expires time.Time `json:"e"`
}

type sessionRequest struct {
	// Token is the API token to sign in with.
	Token string `json:"token" validate:"required,max=200"`
}

type sessionResponse struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createSession exchanges an API token for a session cookie. Failures count towards the
// client's failed-authentication limit like a bad Authorization header.
func (a *api) createSession(c *gin.Context) {
	if a.refuseBlocked(c) {
		return
	}
	var req sessionRequest
	if err := bindJSON(c, &req, false); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	if err := valid.Struct("", req); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	p, ok := a.checkCredentials(c, "Bearer "+req.Token)
	if !ok {
		return
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		renderError(c, a.Logger, err)
		return
	}
	s := session{Token: req.Token, CSRF: base64.RawURLEncoding.EncodeToString(raw), Expires: time.Now().Add(SessionLifetime).UTC().Truncate(time.Second)}
	b, _ := json.Marshal(s)
	sealed, err := a.Keyring.Seal(string(b))
	if err != nil {
		renderError(c, a.Logger, err)
		return
	}
	a.setSessionCookie(c, sealed, int(SessionLifetime.Seconds()))
	c.Set(principalKey, p) // for the audit trail
	c.JSON(http.StatusCreated, sessionResponse{Name: p.Name, Role: string(p.Role), CSRFToken: s.CSRF, ExpiresAt: s.Expires})
}

// getSession says who the session's caller is, with the CSRF token the console sends back.
func (a *api) getSession(c *gin.Context) {
	s, ok := a.readSession(c)
	if !ok || c.GetHeader("Authorization") != "" {
		renderError(c, a.Logger, store.ErrNotFound) // a token caller has no session
		return
	}
	p := principal(c)
	c.JSON(http.StatusOK, sessionResponse{Name: p.Name, Role: string(p.Role), CSRFToken: s.CSRF, ExpiresAt: s.Expires})
}

// deleteSession signs out: the cookie is cleared.
func (a *api) deleteSession(c *gin.Context) {
	a.setSessionCookie(c, "", -1)
	c.Status(http.StatusNoContent)
}

func (a *api) setSessionCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https", SameSite: http.SameSiteStrictMode})
}

// readSession opens the session cookie; false when there is none, or it is not one of ours,
// or it has expired.
func (a *api) readSession(c *gin.Context) (session, bool) {
	ck, err := c.Request.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 4096 {
		return session{}, false
	}
	plain, err := a.Keyring.Open(ck.Value)
	if err != nil {
		return session{}, false
	}
	var s session
	if json.Unmarshal([]byte(plain), &s) != nil || s.Token == "" || s.CSRF == "" || !time.Now().Before(s.Expires) {
		return session{}, false
	}
	return s, true
}

// sessionCredentials returns the Authorization value of a request that comes with a session
// cookie instead of a header, after checking its CSRF token on anything but a read; "" when
// the request has no session.
func (a *api) sessionCredentials(c *gin.Context) (string, error) {
	if c.GetHeader("Authorization") != "" {
		return c.GetHeader("Authorization"), nil
	}
	s, ok := a.readSession(c)
	if !ok {
		return "", nil
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := c.GetHeader(csrfHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
			return "", errCSRF
		}
	}
	return "Bearer " + s.Token, nil
}
