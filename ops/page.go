package ops

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"time"
)

// The operator's page: plain HTML, CSS and JavaScript embedded in the
// binary, reading the JSON endpoints; nothing is fetched from elsewhere
// and nothing on it changes the server.
//
//go:embed web
var webFiles embed.FS

// pageCSP allows the page its own files and its own JSON, nothing else:
// no inline script or style, no other origin, no frames, no forms.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// routePage adds the page and the endpoints only it needs to o's mux.
func (o *Ops) routePage() {
	o.spreads = newSpreadSampler(o.cfg.Store)
	o.traffics = newTrafficSampler(o.cfg.Metrics, o.cfg.Forwarder)
	web, _ := fs.Sub(webFiles, "web") // the directory is embedded: it cannot fail
	files := http.FileServerFS(web)
	o.mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})))
	o.mux.Handle("GET /ui/", pageHeaders(http.StripPrefix("/ui/", files)))
	o.mux.HandleFunc("GET /v1/status", o.status)
	o.mux.HandleFunc("GET /v1/services", o.services)
	o.mux.HandleFunc("GET /v1/services/{id}", o.service)
	o.mux.HandleFunc("GET /v1/spread", o.spread)
	o.mux.HandleFunc("GET /v1/traffic", o.traffic)
}

func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// sampleEvery runs the page's samplers once a second until ctx is done.
func (o *Ops) sampleEvery(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	o.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			o.sample(now)
		}
	}
}

func (o *Ops) sample(now time.Time) {
	o.spreads.sample(now)
	o.traffics.sample(now)
}
