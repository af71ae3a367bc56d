# devsecrets shell hook for bash 4.4 or newer.
#
# `devsecrets hook bash` prints this file followed by a call to __devsecrets_setup with the
# absolute paths of its own installation; load it with:  eval "$(devsecrets hook bash)"
#
# At every prompt: when $PWD and the watched files have not changed, return at once, in pure
# shell. Otherwise walk up from $PWD for .devsecrets.yml with builtins, and start Python (one
# call: devsecrets/hookcall.py) only when the nearest config changes or its trust may have.
# That call prints the status line on stderr and key=value lines on stdout, which are read
# into this hook's variables; nothing is evaluated. No variable is exported; $? is kept.
#
# The session agent: on entering a trusted project that call asks the agent to fetch (and
# returns at once), and hands back the session capability, which lives in an unexported
# variable. The `devsecrets` function below gives it to devsecrets alone, on a pipe (fd 9)
# of that one process — so `devsecrets run` is served from the agent's memory, and nothing
# else the shell starts (an AI agent, a test runner) can see it. It never appears in argv or
# in an environment (both readable in /proc), nor in a file.
# While the fetch runs, each prompt looks for the agent's one-line report on its outcome and
# prints it once (builtins only: no process is started).
#
# State, in unexported globals: __devsecrets_pwd ($PWD last seen), _config (the config in
# use, '' outside projects), _record (its allow-record file), _state and _project (from the
# last Python call), _seen (what __devsecrets_probe saw then), _cap (the session capability),
# _notice (the agent's report file, while it is awaited).

__devsecrets_setup() {
    local -
    set +a +u # `set -a` in the user's shell would export every assignment below
    declare -g +x __devsecrets_python=$1 __devsecrets_pkg=$2 __devsecrets_code=$3
    declare -g +x __devsecrets_flags=${4-}
    declare -g +x __devsecrets_pwd= __devsecrets_config= __devsecrets_record= \
        __devsecrets_state= __devsecrets_project= __devsecrets_seen= __devsecrets_found= \
        __devsecrets_cap= __devsecrets_notice=
    if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
        echo "devsecrets: the shell hook needs bash 4.4 or newer (this is $BASH_VERSION)" >&2
        return 0
    fi
    local entry
    for entry in "${PROMPT_COMMAND[@]}"; do
        if [[ $entry == *__devsecrets_hook* ]]; then return 0; fi # loaded twice
    done
    if [[ ${PROMPT_COMMAND@a} == *a* ]]; then # bash 5.1 runs every element of an array
        PROMPT_COMMAND=(__devsecrets_hook "${PROMPT_COMMAND[@]}")
    else
        PROMPT_COMMAND="__devsecrets_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
    fi
}

__devsecrets_hook() {
    local __devsecrets_status=$? __devsecrets_errexit=
    if [[ $- == *e* ]]; then __devsecrets_errexit=1; fi
    local -
    set +a +e +u +x # +x: no trace of the capability (the functions it calls inherit this)
    if [[ $PWD != "$__devsecrets_pwd" ]]; then
        __devsecrets_pwd=$PWD
        __devsecrets_find
        if [[ $__devsecrets_found != "$__devsecrets_config" ]] || __devsecrets_probe; then
            __devsecrets_call "$__devsecrets_found"
        elif [[ -n $__devsecrets_notice ]]; then
            __devsecrets_tell
        fi
    elif [[ -n $__devsecrets_config ]]; then
        if __devsecrets_probe; then
            __devsecrets_find
            __devsecrets_call "$__devsecrets_found"
        elif [[ -n $__devsecrets_notice ]]; then
            __devsecrets_tell
        fi
    fi
    # bash restores $? for PS1 and the next command line itself. It is returned for the
    # PROMPT_COMMAND entries after this one — except under `set -e`, where a non-zero
    # status here would end the shell.
    if [[ -n $__devsecrets_errexit ]]; then return 0; fi
    return "$__devsecrets_status"
}

# Look at the config and its allow record again. Succeeds when Python must be asked again:
# they changed since the last call (an edit, `devsecrets allow` or `deny` in any shell, the
# project deleted), or the state is one only Python can see the end of (an expired approval,
# an unreadable file).
__devsecrets_probe() {
    local seen=$__devsecrets_seen
    __devsecrets_seen=
    if [[ -e $__devsecrets_config || -L $__devsecrets_config ]]; then __devsecrets_seen+=c; fi
    if [[ -e $__devsecrets_record ]]; then __devsecrets_seen+=r; fi
    if [[ $__devsecrets_config -nt $__devsecrets_record ]]; then __devsecrets_seen+=n; fi
    [[ $__devsecrets_seen != "$seen" || $__devsecrets_state == expired ||
        $__devsecrets_state == error ]]
}

# The nearest .devsecrets.yml at or above the logical $PWD, as `devsecrets run` finds it.
__devsecrets_find() {
    local dir=$PWD
    __devsecrets_found=
    while :; do
        if [[ -e ${dir%/}/.devsecrets.yml || -L ${dir%/}/.devsecrets.yml ]]; then
            __devsecrets_found=${dir%/}/.devsecrets.yml
            return 0
        fi
        if [[ $dir == / || $dir != */* ]]; then return 0; fi
        dir=${dir%/*}
        dir=${dir:-/}
    done
}

# The agent's report on the fetch, once it is there: one line, read and printed by builtins.
__devsecrets_tell() {
    local line
    if [[ -f $__devsecrets_notice ]] && IFS= read -r line <"$__devsecrets_notice"; then
        __devsecrets_notice=
        printf '%s\n' "$line" >&2
    fi
}

__devsecrets_call() {
    local config=$1 record=$__devsecrets_record state=$__devsecrets_state
    local project=$__devsecrets_project cap=$__devsecrets_cap out line
    # Marked as handled before Python starts: Ctrl-C during the call ends this function, and
    # bash then runs the hook for the new prompt, which must not start the same call again.
    # The capability stays until the answer replaces it: after Ctrl-C the next call still
    # sends `leave` for it (and until then the agent refuses it for another project).
    __devsecrets_config=$config __devsecrets_record= __devsecrets_state= __devsecrets_project=
    __devsecrets_notice=
    __devsecrets_probe
    # The capability goes to this one process on its stdin (not argv nor the environment,
    # which other processes can read in /proc; printf is a builtin: no process shows it).
    # $$ is this shell even inside $(…), and the agent binds the session to it.
    if out=$(printf '%s' "$cap" | DEVSECRETS_SESSION_FD=0 "$__devsecrets_python" -I -S \
        -c "$__devsecrets_code" "$__devsecrets_pkg" "$$" "$config" "$record" "$state" \
        "$project" ${__devsecrets_flags:+"$__devsecrets_flags"}); then
        __devsecrets_cap= # answered: its `cap=` line, if any, is the one to hold now
    fi
    cap=
    # Split with expansions, not `read <<<"$out"`: bash before 5.1 puts a here-string in a
    # temporary file, and $out holds the capability.
    out+=$'\n'
    while [[ -n $out ]]; do
        line=${out%%$'\n'*}
        out=${out#*$'\n'}
        case $line in
            state=*) __devsecrets_state=${line#*=} ;;
            project=*) __devsecrets_project=${line#*=} ;;
            record=*) __devsecrets_record=${line#*=} ;;
            cap=*) __devsecrets_cap=${line#*=} ;;
            notice=*) __devsecrets_notice=${line#*=} ;;
        esac
    done
    __devsecrets_probe
}

# devsecrets itself; `devsecrets run` is given this shell's session capability (when it
# holds one) on a pipe, fd 9 of that one process, and is then served by the agent. Only
# `run` uses it: other commands start programs of their own (`op`, a config's `rotate:`
# command). `function` keeps an alias named devsecrets from being expanded here.
function devsecrets {
    { local -; set +x; } 2>/dev/null # `set -x` would print the capability
    if [[ ${1-} == run && -n ${__devsecrets_cap-} ]]; then
        DEVSECRETS_SESSION_FD=9 command devsecrets "$@" 9< <(printf '%s' "$__devsecrets_cap")
    else
        command devsecrets "$@"
    fi
}

