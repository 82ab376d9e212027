package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/swarmdns/swarmdns/internal/suggest"
	"github.com/swarmdns/swarmdns/scheduler"
)

// Errors in the user's words: every message about a setting names it the
// way the user gave it (--ttl, SWARMDNS_TTL, a --config file's ttl:), says
// what was wrong and what would be right, and shows no Go internals.

// flagError rewrites the flag parser's errors (cobra's SetFlagErrorFunc).
func flagError(fs *pflag.FlagSet, err error) error {
	var inv *pflag.InvalidValueError
	if errors.As(err, &inv) {
		return valueError("--"+inv.GetFlag().Name, inv.GetFlag(), inv.GetValue())
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedName() != "" {
		name := ne.GetSpecifiedName()
		if n := suggest.Nearest(name, flagNames(fs)); n != "" {
			return fmt.Errorf("unknown flag --%s; did you mean --%s?", name, n)
		}
		return fmt.Errorf("unknown flag --%s; see --help", name)
	}
	return err
}

// flagNames are the names of every flag of fs.
func flagNames(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// valueError says that value does not fit flag f, given as where.
func valueError(where string, f *pflag.Flag, value string) error {
	return fmt.Errorf("%s: %s", where, valueProblem(f, value))
}

// valueProblem says what is wrong with a value of f's type.
func valueProblem(f *pflag.Flag, value string) string {
	switch f.Value.Type() {
	case "duration":
		return fmt.Sprintf("%q is not a duration; use a number with a unit, e.g. 500ms, 5s or 1m30s", value)
	case "uint32":
		return fmt.Sprintf("%q is not a whole number from 0 to 4294967295", value)
	case "int":
		return fmt.Sprintf("%q is not a whole number", value)
	case "bool":
		return fmt.Sprintf("%q is not true or false", value)
	}
	return fmt.Sprintf("%q is not a valid value (%s)", value, f.Usage)
}

// The values of --log-level and --log-format.
var (
	logLevels  = []string{"panic", "fatal", "error", "warn", "info", "debug", "trace"}
	logFormats = []string{"text", "json"}
)

// oneOf checks that a setting's value is one of valid.
func oneOf(setting, what, value string, valid []string) error {
	for _, v := range valid {
		if v == value {
			return nil
		}
	}
	list := strings.Join(valid, ", ")
	if len(valid) == 2 {
		list = valid[0] + " or " + valid[1]
	} else {
		list = "one of " + list
	}
	return fmt.Errorf("%s: %q is not a %s; use %s%s", setting, value, what, list, suggest.Hint(value, valid))
}

// checkScheduler checks --scheduler.
func checkScheduler(name string) error {
	if _, err := scheduler.Lookup(name); err != nil {
		return fmt.Errorf("--scheduler: %w", err)
	}
	return nil
}

// checkMaxAnswers checks --max-answers.
func checkMaxAnswers(n int) error {
	if n < 0 {
		return fmt.Errorf("--max-answers: %d is negative; use 0 (every record) or more", n)
	}
	return nil
}
