package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// reloadable are the settings SIGHUP applies again from --config; every
// other setting needs a restart. docs/configuration.md lists them.
var reloadable = []string{"log-level", "log-format", "log-queries", "stale-after", "ttl", "scheduler", "max-answers"}

// readConfigFile reads a --config file: a YAML mapping of flag names to
// values; a list flag takes a sequence.
func readConfigFile(path string) (map[string][]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case []any:
			items := make([]string, 0, len(v))
			for _, it := range v {
				items = append(items, fmt.Sprint(it))
			}
			out[k] = items
		case map[string]any:
			return nil, fmt.Errorf("config %s: %s: want a value or a list", path, k)
		case nil:
			out[k] = []string{""}
		default:
			out[k] = []string{fmt.Sprint(v)}
		}
	}
	return out, nil
}

// pinned reports whether a flag was given on the command line or in the
// environment, which win over the --config file.
func pinned(f *pflag.Flag) bool {
	if f.Changed {
		return true
	}
	_, ok := os.LookupEnv(envName(f.Name))
	return ok
}

// setFlag sets a flag from a config value.
func setFlag(f *pflag.Flag, v []string) error {
	if sv, isList := f.Value.(pflag.SliceValue); isList {
		return sv.Replace(v)
	}
	return f.Value.Set(strings.Join(v, ","))
}

// applyConfigFile sets, from the --config file, every flag not given on
// the command line or in the environment.
func applyConfigFile(fs *pflag.FlagSet) error {
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	values, err := readConfigFile(cf.Value.String())
	if err != nil {
		return err
	}
	for name, v := range values {
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("config %s: unknown setting %q", cf.Value.String(), name)
		}
		if pinned(f) {
			continue
		}
		if err := setFlag(f, v); err != nil {
			return fmt.Errorf("config %s: %s: %w", cf.Value.String(), name, err)
		}
	}
	return nil
}

// configureLogger sets the level and format of l.
func configureLogger(l *logrus.Logger, level, format string) error {
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	var fm logrus.Formatter
	switch format {
	case "text":
		fm = &logrus.TextFormatter{FullTimestamp: true}
	case "json":
		fm = &logrus.JSONFormatter{}
	default:
		return fmt.Errorf("log format %q: want text or json", format)
	}
	l.SetLevel(lv)
	l.SetFormatter(fm)
	return nil
}

// reload re-reads the --config file and applies its reloadable settings
// (SIGHUP). A reloadable setting missing from the file goes back to its
// default; one given on the command line or in the environment stays. A
// bad file changes nothing.
func (r *opsRuntime) reload(fs *pflag.FlagSet, logger *logrus.Logger) {
	path := r.opts.config
	if path == "" {
		return
	}
	values, err := readConfigFile(path)
	if err != nil {
		r.log.WithError(err).Error("SIGHUP: settings not reloaded")
		return
	}
	old := map[string]string{}
	var changed []string
	for _, name := range reloadable {
		f := fs.Lookup(name)
		if f == nil || pinned(f) {
			continue
		}
		old[name] = f.Value.String()
		v, ok := values[name]
		if !ok {
			v = []string{f.DefValue}
		}
		if err := setFlag(f, v); err != nil {
			r.restore(fs, old)
			r.log.WithError(err).WithField("setting", name).Error("SIGHUP: settings not reloaded")
			return
		}
		if f.Value.String() != old[name] {
			changed = append(changed, name+"="+f.Value.String())
		}
	}
	for name, v := range values {
		if f := fs.Lookup(name); f != nil && !slices.Contains(reloadable, name) && !pinned(f) && strings.Join(v, ",") != strings.Trim(f.Value.String(), "[]") {
			r.log.WithField("setting", name).Warn("SIGHUP: this setting changed in the config file but needs a restart")
		}
	}
	if err := r.apply(fs, logger); err != nil {
		r.restore(fs, old)
		r.log.WithError(err).Error("SIGHUP: settings not reloaded")
		return
	}
	r.log.WithField("changed", strings.Join(changed, " ")).Info("SIGHUP: settings reloaded")
}

func (r *opsRuntime) restore(fs *pflag.FlagSet, old map[string]string) {
	for name, v := range old {
		fs.Set(name, v)
	}
}

// apply puts the current reloadable flag values into effect; it checks
// everything before changing anything.
func (r *opsRuntime) apply(fs *pflag.FlagSet, logger *logrus.Logger) error {
	level, _ := fs.GetString("log-level")
	format, _ := fs.GetString("log-format")
	if err := configureLogger(logrus.New(), level, format); err != nil {
		return err
	}
	cfg := r.store.Config()
	rebuild := false
	if ttl, err := fs.GetUint32("ttl"); err == nil && ttl != cfg.TTL {
		cfg.TTL, rebuild = ttl, true
	}
	if p, err := fs.GetString("scheduler"); err == nil && p != cfg.Policy {
		cfg.Policy, rebuild = p, true
	}
	if n, err := fs.GetInt("max-answers"); err == nil && n != cfg.MaxAnswers {
		cfg.MaxAnswers, rebuild = n, true
	}
	if rebuild {
		if err := r.store.Reconfigure(cfg); err != nil {
			return err
		}
		r.store.Rebuild()
	}
	configureLogger(logger, level, format)
	r.queryLog.SetEnabled(r.opts.logQueries)
	if r.http != nil {
		r.http.SetStaleAfter(r.opts.staleAfter)
	}
	return nil
}
