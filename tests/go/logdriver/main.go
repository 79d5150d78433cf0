// An independent logging plugin for the emulator's tests, built on moby's own code:
// github.com/docker/docker/api/types/plugins/logdriver (the LogEntry protobuf and its
// framed encoder and decoder, gogo/protobuf) and github.com/containerd/fifo, as
// Debian packages them.  Standard library otherwise.
//
// It serves LogDriver on a unix socket and writes what it understood as JSON lines to
// -log: one "start" per StartLogging (the raw request body), one "entry" per record it
// decoded from a FIFO (with the record re-encoded by moby's encoder, in hex), one "eof"
// when a FIFO ends (or "error" with the decoder's text) and one "stop" per StopLogging.
// ReadLogs answers the container's records with moby's encoder, a newline put back on
// every line that ended one (as dockerd's own files do), filtered by Since, Until and
// Tail; with Follow it goes on with new records until the container has no FIFO open
// (or the reader goes away).
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/fifo"
	"github.com/docker/docker/api/types/plugins/logdriver"
)

type info struct {
	ContainerID string
}

type startRequest struct {
	File string
	Info info
}

type readConfig struct {
	Since  time.Time
	Until  time.Time
	Tail   int
	Follow bool
}

type readRequest struct {
	Info   info
	Config readConfig
}

type record struct {
	container string
	entry     logdriver.LogEntry
}

type driver struct {
	mu      sync.Mutex
	out     *os.File
	records []record
	live    map[string]int
	wg      sync.WaitGroup
}

func (d *driver) write(v map[string]interface{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	line, _ := json.Marshal(v)
	d.out.Write(append(line, '\n'))
}

func encode(e *logdriver.LogEntry) string {
	var buf bytes.Buffer
	if err := logdriver.NewLogEntryEncoder(&buf).Encode(e); err != nil {
		return "encode error: " + err.Error()
	}
	return hex.EncodeToString(buf.Bytes())
}

func (d *driver) consume(file, container string, stream io.ReadCloser) {
	defer d.wg.Done()
	defer stream.Close()
	defer func() {
		d.mu.Lock()
		d.live[container]--
		d.mu.Unlock()
	}()
	dec := logdriver.NewLogEntryDecoder(stream)
	for {
		var e logdriver.LogEntry
		if err := dec.Decode(&e); err != nil {
			if err == io.EOF {
				d.write(map[string]interface{}{"event": "eof", "file": file})
			} else {
				d.write(map[string]interface{}{"event": "error", "file": file, "error": err.Error()})
			}
			return
		}
		d.mu.Lock()
		d.records = append(d.records, record{container, e})
		d.mu.Unlock()
		v := map[string]interface{}{
			"event": "entry", "file": file, "container": container, "frame": encode(&e),
			"source": e.Source, "time_nano": e.TimeNano, "line": string(e.Line),
			"partial": e.Partial,
		}
		if m := e.PartialLogMetadata; m != nil {
			v["id"], v["ordinal"], v["last"] = m.Id, m.Ordinal, m.Last
		}
		d.write(v)
	}
}

func reply(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.1+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (d *driver) start(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req startRequest
	if err := json.Unmarshal(body, &req); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"Err": err.Error()})
		return
	}
	d.write(map[string]interface{}{"event": "start", "file": req.File, "body": string(body)})
	stream, err := fifo.OpenFifo(context.Background(), req.File, syscall.O_RDONLY, 0o700)
	if err != nil {
		reply(w, http.StatusInternalServerError, map[string]string{"Err": err.Error()})
		return
	}
	d.wg.Add(1)
	d.mu.Lock()
	d.live[req.Info.ContainerID]++
	d.mu.Unlock()
	go d.consume(req.File, req.Info.ContainerID, stream)
	reply(w, http.StatusOK, map[string]string{"Err": ""})
}

func (d *driver) stop(w http.ResponseWriter, r *http.Request) {
	var req struct{ File string }
	json.NewDecoder(r.Body).Decode(&req)
	d.write(map[string]interface{}{"event": "stop", "file": req.File})
	reply(w, http.StatusOK, map[string]string{"Err": ""})
}

// since returns the container's records from index from on, and whether it still logs.
func (d *driver) since(container string, from int) ([]logdriver.LogEntry, int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var mine []logdriver.LogEntry
	for i := from; i < len(d.records); i++ {
		if d.records[i].container == container {
			mine = append(mine, d.records[i].entry)
		}
	}
	return mine, len(d.records), d.live[container] > 0
}

func (d *driver) read(w http.ResponseWriter, r *http.Request) {
	var req readRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"Err": err.Error()})
		return
	}
	mine, seen, live := d.since(req.Info.ContainerID, 0)
	if req.Config.Tail >= 0 && req.Config.Tail < len(mine) {
		mine = mine[len(mine)-req.Config.Tail:]
	}
	w.Header().Set("Content-Type", "application/x-json-stream")
	enc := logdriver.NewLogEntryEncoder(w)
	flusher, _ := w.(http.Flusher)
	for {
		for _, e := range mine {
			t := time.Unix(0, e.TimeNano)
			if !req.Config.Since.IsZero() && t.Before(req.Config.Since) {
				continue
			}
			if !req.Config.Until.IsZero() && t.After(req.Config.Until) {
				return
			}
			if e.PartialLogMetadata == nil || e.PartialLogMetadata.Last {
				e.Line = append(append([]byte{}, e.Line...), '\n')
			}
			if err := enc.Encode(&e); err != nil {
				return
			}
		}
		if !req.Config.Follow || !live {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		mine, seen, live = d.since(req.Info.ContainerID, seen)
	}
}

func main() {
	socket := flag.String("socket", "", "unix socket to serve on")
	logPath := flag.String("log", "", "where to write what was received (JSON lines)")
	readLogs := flag.Bool("read-logs", true, "answer Capabilities with ReadLogs")
	flag.Parse()
	out, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d := &driver{out: out, live: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string][]string{"Implements": {"LogDriver"}})
	})
	mux.HandleFunc("/LogDriver.Capabilities", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]interface{}{"Cap": map[string]bool{"ReadLogs": *readLogs}})
	})
	mux.HandleFunc("/LogDriver.StartLogging", d.start)
	mux.HandleFunc("/LogDriver.StopLogging", d.stop)
	mux.HandleFunc("/LogDriver.ReadLogs", d.read)
	os.Remove(*socket)
	l, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", *socket)
	http.Serve(l, mux)
}
