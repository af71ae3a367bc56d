# devsecrets shell hook for fish.
#
# `devsecrets hook fish` prints this file followed by a call to __devsecrets_setup with the
# absolute paths of its own installation; load it with:  devsecrets hook fish | source
#
# Runs on the fish_prompt event, and on changes of $PWD while the prompt is shown (key
# bindings such as Alt+Left), as direnv's fish hook does. When $PWD and the watched files
# have not changed, return at once, in pure shell. Otherwise walk up from $PWD for
# .devsecrets.yml with builtins, and start Python (one call: devsecrets/hookcall.py) only
# when the nearest config changes or its trust may have. That call prints the status line on
# stderr and key=value lines on stdout, which are read into this hook's variables; nothing
# is evaluated. Every variable is set with -gu: global, never exported. fish keeps $status
# across event handlers itself.
#
# The session agent: on entering a trusted project that call asks the agent to fetch (and
# returns at once), and hands back the session capability, which lives in an unexported
# variable. The `devsecrets` function below gives it to devsecrets alone, on a pipe (fd 9,
# through psub's FIFO in a private temporary directory) — `devsecrets run` is then served from
# the agent's memory, and nothing else the shell starts (an AI agent, a test runner) can see
# it. It never appears in argv or in an environment (both readable in /proc).
# While the fetch runs, each prompt looks for the agent's one-line report on its outcome and
# prints it once (builtins only: no process is started).
#
# State: __devsecrets_pwd ($PWD last seen), _config (the config in use, '' outside
# projects), _record (its allow-record file), _state and _project (from the last Python
# call), _seen (what __devsecrets_probe saw then), _cap (the session capability), _notice
# (the agent's report file, while it is awaited).

function __devsecrets_setup
    set -gu __devsecrets_python $argv[1]
    set -gu __devsecrets_pkg $argv[2]
    set -gu __devsecrets_code $argv[3]
    set -e argv[1..3]
    set -gu __devsecrets_flags $argv
    for name in pwd config record state project seen found cap notice
        set -gu __devsecrets_$name ''
    end
end

function __devsecrets_on_prompt --on-event fish_prompt
    __devsecrets_hook
    set -gu __devsecrets_at_prompt 1
end

function __devsecrets_on_preexec --on-event fish_preexec
    set -e __devsecrets_at_prompt
end

function __devsecrets_on_pwd --on-variable PWD
    if set -q __devsecrets_at_prompt
        __devsecrets_hook
    end
end

function __devsecrets_hook
    if test "$PWD" != "$__devsecrets_pwd"
        set -gu __devsecrets_pwd $PWD
        __devsecrets_find
        if test "$__devsecrets_found" != "$__devsecrets_config"; or __devsecrets_probe
            __devsecrets_call "$__devsecrets_found"
        else if test -n "$__devsecrets_notice"
            __devsecrets_tell
        end
    else if test -n "$__devsecrets_config"
        if __devsecrets_probe
            __devsecrets_find
            __devsecrets_call "$__devsecrets_found"
        else if test -n "$__devsecrets_notice"
            __devsecrets_tell
        end
    end
end

# The agent's report on the fetch, once it is there: one line, read and printed by builtins.
function __devsecrets_tell
    if test -f "$__devsecrets_notice"; and read -l line <"$__devsecrets_notice"
        set -gu __devsecrets_notice ''
        printf '%s\n' "$line" >&2
    end
end

# Look at the config and its allow record again. Succeeds when Python must be asked again:
# they changed since the last call (an edit, `devsecrets allow` or `deny` in any shell, the
# project deleted), or the state is one only Python can see the end of (an expired approval,
# an unreadable file). Every builtin costs microseconds in fish: tests are chained.
function __devsecrets_probe
    set -l seen $__devsecrets_seen
    set -gu __devsecrets_seen
    test -e "$__devsecrets_config"; or test -L "$__devsecrets_config"; and set -a __devsecrets_seen c
    test -e "$__devsecrets_record"; and set -a __devsecrets_seen r
    test "$__devsecrets_config" -nt "$__devsecrets_record"; and set -a __devsecrets_seen n
    test "$__devsecrets_seen" != "$seen"; or contains -- "$__devsecrets_state" expired error
end

# The nearest .devsecrets.yml at or above the logical $PWD, as `devsecrets run` finds it.
# A command substitution costs ≈ 60 µs in fish, so there is at most one: $PWD is tried
# first, then its ancestors, built from the split path, deepest first, '' (the root) last.
function __devsecrets_find
    if test -e "$PWD/.devsecrets.yml"; or test -L "$PWD/.devsecrets.yml"; and test "$PWD" != /
        set -gu __devsecrets_found "$PWD/.devsecrets.yml"
        return 0
    end
    set -l dirs ''
    set -l dir ''
    for part in (string split -n / -- $PWD)
        set dir "$dir/$part"
        set -p dirs $dir
    end
    for dir in $dirs
        if test -e "$dir/.devsecrets.yml"; or test -L "$dir/.devsecrets.yml"
            set -gu __devsecrets_found "$dir/.devsecrets.yml"
            return 0
        end
    end
    set -gu __devsecrets_found ''
end

function __devsecrets_call
    set -l fish_trace # no trace of the capability
    set -l config $argv[1]
    set -l previous "$__devsecrets_record" "$__devsecrets_state" "$__devsecrets_project"
    # Marked as handled before Python starts: after Ctrl-C during the call, the hook runs
    # again for the new prompt and must not start the same call again. The capability stays
    # until the answer replaces it: after Ctrl-C the next call still sends `leave` for it
    # (and until then the agent refuses it for another project).
    set -gu __devsecrets_config $config
    for name in record state project notice
        set -gu __devsecrets_$name ''
    end
    __devsecrets_probe
    set -l out
    set -l answered 0
    begin
        # The capability goes to this one process on its stdin (not argv nor the environment,
        # which other processes can read in /proc; printf is a builtin: no process shows it).
        # The block ends the export. The agent binds the session to this shell, $fish_pid.
        set -lx DEVSECRETS_SESSION_FD 0
        set out (printf '%s' "$__devsecrets_cap" | $__devsecrets_python -I -S \
            -c $__devsecrets_code $__devsecrets_pkg $fish_pid "$config" $previous \
            $__devsecrets_flags)
        and set answered 1
    end
    if test $answered = 1 # answered: its `cap=` line, if any, is the one to hold now
        set -gu __devsecrets_cap ''
    end
    for line in $out
        set -l pair (string split -m 1 = -- $line)
        if contains -- "$pair[1]" state project record cap notice; and set -q pair[2]
            set -gu __devsecrets_$pair[1] $pair[2]
        end
    end
    __devsecrets_probe
end

# devsecrets itself; `devsecrets run` is given this shell's session capability (when it
# holds one) on a pipe, fd 9 of that one process, and is then served by the agent. Only
# `run` uses it: other commands start programs of their own (`op`, a config's `rotate:`
# command).
function devsecrets --wraps devsecrets --description 'devsecrets, with this shell\'s session'
    set -l fish_trace # `set fish_trace 1` would print the capability
    if test "$argv[1]" = run; and test -n "$__devsecrets_cap"
        set -lx DEVSECRETS_SESSION_FD 9
        # --fifo: plain psub writes a temporary file (devsecrets reads only from a pipe)
        command devsecrets $argv 9< (printf '%s' $__devsecrets_cap | psub --fifo)
    else
        command devsecrets $argv
    end
end

