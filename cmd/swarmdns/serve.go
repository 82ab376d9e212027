package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/scheduler"
	"github.com/swarmdns/swarmdns/server"
)

// serveOptions are the flags of `swarmdns serve`.
type serveOptions struct {
	listen       string
	registryFile string
	domain       string
	ttl          uint32
	scheduler    string
	maxAnswers   int
	networks     []string
	preferLocal  bool
	logLevel     string
	logFormat    string
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer DNS for the registry's names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":53", "address to serve DNS on, UDP and TCP (host:port)")
	f.StringVar(&o.registryFile, "registry-file", "", "read the registry from this YAML file instead of a Swarm manager")
	f.StringVar(&o.domain, "domain", "swarm.local.", "zone the names are served under (they answer bare too)")
	f.Uint32Var(&o.ttl, "ttl", 5, "TTL of answers in seconds (service label swarmdns.ttl overrides)")
	f.StringVar(&o.scheduler, "scheduler", scheduler.RoundRobin, "answer order policy: roundrobin, weighted or random (label swarmdns.scheduler overrides)")
	f.IntVar(&o.maxAnswers, "max-answers", 0, "at most this many records per A, AAAA or SRV answer (0: all)")
	f.StringSliceVar(&o.networks, "network", nil, "restrict the answers for clients with no network context to these networks (repeatable)")
	f.BoolVar(&o.preferLocal, "prefer-local", false, "answer tasks on this node before the others")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func (o *serveOptions) run(ctx context.Context) error {
	logger, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	log := logrus.NewEntry(logger)
	store, err := registry.NewStore(registry.Config{
		Domain: o.domain, TTL: o.ttl, Policy: o.scheduler, MaxAnswers: o.maxAnswers,
		Networks: o.networks, PreferLocal: o.preferLocal,
	}, log.WithField("component", "registry"))
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if o.registryFile == "" {
		return errors.New("no registry source: give --registry-file")
	}
	file := registry.NewFileSource(o.registryFile, log.WithField("component", "file"))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	srcErr := make(chan error, 1)
	go func() { srcErr <- file.Run(ctx, store.Update) }()

	h := server.NewHandler(server.Config{Store: store, Log: log.WithField("component", "server")})
	srv := &server.Server{Handler: h, Addr: o.listen, Log: log.WithField("component", "server")}
	if err := srv.Start(); err != nil {
		return err
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-srcErr:
			if err != nil {
				shutdown(srv, sigs, log)
				return fmt.Errorf("registry source: %w", err)
			}
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: reloading the registry file")
				file.Reload()
				continue
			}
			log.WithField("signal", sig.String()).Info("shutting down")
			stop()
			shutdown(srv, sigs, log)
			return nil
		}
	}
}

// shutdown lets queries under way finish for up to 5 s; a second signal
// exits at once.
func shutdown(srv *server.Server, sigs <-chan os.Signal, log *logrus.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			log.Warn("second signal: exiting now")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	if err := srv.Shutdown(ctx); err != nil {
		log.WithError(err).Warn("queries cut off at shutdown")
	}
}
