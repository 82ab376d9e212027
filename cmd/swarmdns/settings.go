package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/swarmdns/swarmdns/internal/suggest"
)

// reloadable are the settings SIGHUP applies again from --config; every
// other setting needs a restart. docs/configuration.md lists them.
var reloadable = []string{"log-level", "log-format", "log-queries", "stale-after", "ttl", "scheduler", "max-answers"}

// configValue is one setting of a --config file: its values (a list flag
// takes a sequence) and its line.
type configValue struct {
	values []string
	line   int
}

// readConfigFile reads a --config file: a YAML mapping of flag names to
// values; a list flag takes a sequence.
func readConfigFile(path string) (map[string]configValue, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, reason, ok := strings.Cut(rest, ": "); ok {
				return nil, fmt.Errorf("config %s:%s: YAML syntax: %s", path, num, reason)
			}
		}
		return nil, fmt.Errorf("config %s: YAML syntax: %s", path, msg)
	}
	out := map[string]configValue{}
	if len(root.Content) == 0 {
		return out, nil // empty: every setting at its default
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a mapping of settings to values, e.g. ttl: 10", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		cv := configValue{line: k.Line}
		switch v.Kind {
		case yaml.SequenceNode:
			cv.values = []string{}
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("config %s:%d: %s: want a list of values", path, it.Line, k.Value)
				}
				cv.values = append(cv.values, it.Value)
			}
		case yaml.ScalarNode:
			val := v.Value
			if v.Tag == "!!null" {
				val = ""
			}
			cv.values = []string{val}
		default:
			return nil, fmt.Errorf("config %s:%d: %s: want a value or a list", path, v.Line, k.Value)
		}
		out[k.Value] = cv
	}
	return out, nil
}

// checkConfig holds a --config file's settings to the rules of the
// command line: each is a flag of serve (not --config itself), with a value
// that flag takes. It changes no flag of fs.
func checkConfig(path string, values map[string]configValue, fs *pflag.FlagSet) error {
	scratch := newServeCommand().Flags()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(values)) {
		cv := values[name]
		f := scratch.Lookup(name)
		if f == nil || name == "config" || fs.Lookup(name) == nil {
			known := slices.DeleteFunc(flagNames(scratch), func(n string) bool { return n == "config" })
			hint := suggest.Hint(name, known)
			if hint == "" {
				hint = "; the settings are the flags of swarmdns serve (see --help), without the dashes"
			}
			errs = append(errs, fmt.Errorf("config %s:%d: %q is not a setting%s", path, cv.line, name, hint))
			continue
		}
		if err := setFlag(f, cv.values); err != nil {
			errs = append(errs, valueError(fmt.Sprintf("config %s:%d: %s", path, cv.line, name), f, strings.Join(cv.values, ",")))
		}
	}
	return errors.Join(errs...)
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
// the command line or in the environment. A file with any bad setting
// sets none.
func applyConfigFile(fs *pflag.FlagSet) error {
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	path := cf.Value.String()
	values, err := readConfigFile(path)
	if err != nil {
		return err
	}
	if err := checkConfig(path, values, fs); err != nil {
		return err
	}
	for name, cv := range values {
		f := fs.Lookup(name)
		if pinned(f) {
			continue
		}
		if err := setFlag(f, cv.values); err != nil {
			return valueError(fmt.Sprintf("config %s:%d: %s", path, cv.line, name), f, strings.Join(cv.values, ","))
		}
	}
	return nil
}

// configureLogger sets the level and format of l.
func configureLogger(l *logrus.Logger, level, format string) error {
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return oneOf("--log-level", "level", level, logLevels)
	}
	var fm logrus.Formatter
	switch format {
	case "text":
		fm = &logrus.TextFormatter{FullTimestamp: true}
	case "json":
		fm = &logrus.JSONFormatter{}
	default:
		return oneOf("--log-format", "format", format, logFormats)
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
	if err == nil {
		err = checkConfig(path, values, fs)
	}
	if err != nil {
		r.log.WithError(err).Error("SIGHUP: the config file is invalid; no setting changed")
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
		v := []string{f.DefValue}
		if cv, ok := values[name]; ok {
			v = cv.values
		}
		if err := setFlag(f, v); err != nil {
			r.restore(fs, old)
			r.log.WithError(valueError(name, f, strings.Join(v, ","))).WithField("setting", name).Error("SIGHUP: the config file is invalid; no setting changed")
			return
		}
		if f.Value.String() != old[name] {
			changed = append(changed, name+"="+f.Value.String())
		}
	}
	for name, cv := range values {
		if f := fs.Lookup(name); f != nil && !slices.Contains(reloadable, name) && !pinned(f) && strings.Join(cv.values, ",") != strings.Trim(f.Value.String(), "[]") {
			r.log.WithField("setting", name).Warn("SIGHUP: this setting changed in the config file but needs a restart")
		}
	}
	if err := r.apply(fs, logger); err != nil {
		r.restore(fs, old)
		r.log.WithError(err).Error("SIGHUP: the config file is invalid; no setting changed")
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
		if err := checkScheduler(p); err != nil {
			return err
		}
		cfg.Policy, rebuild = p, true
	}
	if n, err := fs.GetInt("max-answers"); err == nil && n != cfg.MaxAnswers {
		if err := checkMaxAnswers(n); err != nil {
			return err
		}
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
