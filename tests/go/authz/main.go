// Command authz is an authorization plugin written against moby's own types.
//
// It decodes every AuthZReq and AuthZRes with encoding/json into
// github.com/docker/docker/pkg/authorization.Request (so base64 bodies, key names,
// header maps and PEM peer certificates are read exactly as Go reads moby's structs),
// appends what it decoded to a JSON-lines log, and answers with
// authorization.Response: it refuses requests whose method is -deny-method (and
// answers with a plugin error, HTTP 500 {"Err": ...}, for -fail-uri), allowing the
// rest.  Only the standard library is used besides moby's package.
//
// Built by the emulator's tests (tests/test_go_authz.py) with Debian's golang-go and
// golang-github-docker-docker-dev, in GOPATH mode.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/pkg/authorization"
)

// decoded is what the plugin understood of one call, as Go sees moby's struct.
type decoded struct {
	Call               string            `json:"call"`
	User               string            `json:"user"`
	UserAuthNMethod    string            `json:"user_authn_method"`
	RequestMethod      string            `json:"request_method"`
	RequestURI         string            `json:"request_uri"`
	RequestBody        *string           `json:"request_body"`
	RequestHeaders     map[string]string `json:"request_headers"`
	PeerCommonNames    []string          `json:"peer_common_names"`
	PeerSHA256         []string          `json:"peer_sha256"`
	ResponseStatusCode int               `json:"response_status_code"`
	ResponseBody       *string           `json:"response_body"`
	ResponseHeaders    map[string]string `json:"response_headers"`
}

type plugin struct {
	mu         sync.Mutex
	logFile    *os.File
	denyMethod string
	failURI    string
}

func text(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func (p *plugin) record(call string, req *authorization.Request) {
	d := decoded{
		Call:               call,
		User:               req.User,
		UserAuthNMethod:    req.UserAuthNMethod,
		RequestMethod:      req.RequestMethod,
		RequestURI:         req.RequestURI,
		RequestBody:        text(req.RequestBody),
		RequestHeaders:     req.RequestHeaders,
		ResponseStatusCode: req.ResponseStatusCode,
		ResponseBody:       text(req.ResponseBody),
		ResponseHeaders:    req.ResponseHeaders,
	}
	for _, c := range req.RequestPeerCertificates {
		sum := sha256.Sum256(c.Raw)
		d.PeerCommonNames = append(d.PeerCommonNames, c.Subject.CommonName)
		d.PeerSHA256 = append(d.PeerSHA256, hex.EncodeToString(sum[:]))
	}
	line, err := json.Marshal(d)
	if err != nil {
		log.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.logFile.Write(append(line, '\n')); err != nil {
		log.Fatal(err)
	}
}

func answer(w http.ResponseWriter, status int, res authorization.Response) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

func (p *plugin) handle(call string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req authorization.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			answer(w, http.StatusInternalServerError, authorization.Response{Err: err.Error()})
			return
		}
		p.record(call, &req)
		switch {
		case p.failURI != "" && strings.Contains(req.RequestURI, p.failURI):
			answer(w, http.StatusInternalServerError, authorization.Response{Err: "go plugin failed on purpose"})
		case call == "AuthZReq" && req.RequestMethod == p.denyMethod:
			answer(w, http.StatusOK, authorization.Response{Allow: false, Msg: "go says no to " + req.RequestMethod})
		default:
			answer(w, http.StatusOK, authorization.Response{Allow: true})
		}
	}
}

func main() {
	socketDir := os.Getenv("EMULATOR_PLUGIN_SOCKET_DIR")
	if socketDir == "" {
		socketDir = "/run/docker/plugins"
	}
	socket := flag.String("socket", filepath.Join(socketDir, "goauthz.sock"), "unix socket to listen on")
	logPath := flag.String("log", os.Getenv("AUTHZ_LOG"), "JSON-lines file of decoded calls")
	denyMethod := flag.String("deny-method", "DELETE", "HTTP method refused by AuthZReq")
	failURI := flag.String("fail-uri", os.Getenv("AUTHZ_FAIL_URI"), "answer 500 for URIs containing this")
	flag.Parse()
	if *logPath == "" {
		log.Fatal("-log (or AUTHZ_LOG) is required")
	}
	logFile, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	p := &plugin{logFile: logFile, denyMethod: *denyMethod, failURI: *failURI}
	mux := http.NewServeMux()
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.1+json")
		fmt.Fprintln(w, `{"Implements": ["`+authorization.AuthZApiImplements+`"]}`)
	})
	mux.HandleFunc("/"+authorization.AuthZApiRequest, p.handle("AuthZReq"))
	mux.HandleFunc("/"+authorization.AuthZApiResponse, p.handle("AuthZRes"))
	if err := os.MkdirAll(filepath.Dir(*socket), 0o755); err != nil {
		log.Fatal(err)
	}
	_ = os.Remove(*socket)
	listener, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("goauthz listening on %s", *socket)
	log.Fatal(http.Serve(listener, mux))
}
