# devsecrets shell hook for zsh.
#
# `devsecrets hook zsh` prints this file followed by a call to __devsecrets_setup with the
# absolute paths of its own installation; load it with:  eval "$(devsecrets hook zsh)"
#
# Runs from precmd (every prompt) and chpwd (inside `cd`, so `cd proj && cmd` sees it).
# When $PWD and the watched files have not changed, return at once, in pure shell. Otherwise
# walk up from $PWD for .devsecrets.yml with builtins, and start Python (one call:
# devsecrets/hookcall.py) only when the nearest config changes or its trust may have. That
# call prints the status line on stderr and key=value lines on stdout, which are read into
# this hook's variables; nothing is evaluated. No variable is exported. zsh restores $?
# after precmd and chpwd functions itself, and a non-zero return would end a shell running
# with ERR_EXIT, so the functions return 0.
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
    emulate -L zsh
    typeset -g +x __devsecrets_python=$1 __devsecrets_pkg=$2 __devsecrets_code=$3
    typeset -g +x __devsecrets_flags=${4-}
    typeset -g +x __devsecrets_pwd= __devsecrets_config= __devsecrets_record= \
        __devsecrets_state= __devsecrets_project= __devsecrets_seen= __devsecrets_found= \
        __devsecrets_cap= __devsecrets_notice=
    typeset -ga precmd_functions chpwd_functions
    if (( ! ${precmd_functions[(I)__devsecrets_hook]} )); then
        precmd_functions=(__devsecrets_hook $precmd_functions)
    fi
    if (( ! ${chpwd_functions[(I)__devsecrets_hook]} )); then
        chpwd_functions=(__devsecrets_hook $chpwd_functions)
    fi
}

__devsecrets_hook() {
    emulate -L zsh
    setopt no_xtrace # no trace of the capability (the functions it calls inherit this)
    # `$(cd x; ...)` runs chpwd in a subshell, and so does completion (direnv #1109).
    if (( ZSH_SUBSHELL )); then return 0; fi
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
    return 0
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
    [[ $__devsecrets_seen != "$seen" || $__devsecrets_state == (expired|error) ]]
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
        print -r -- "$line" >&2
    fi
}

__devsecrets_call() {
    local config=$1 record=$__devsecrets_record state=$__devsecrets_state
    local project=$__devsecrets_project cap=$__devsecrets_cap out line
    # Marked as handled before Python starts: after Ctrl-C during the call, the hook runs
    # again for the new prompt and must not start the same call again. The capability stays
    # until the answer replaces it: after Ctrl-C the next call still sends `leave` for it
    # (and until then the agent refuses it for another project).
    __devsecrets_config=$config __devsecrets_record= __devsecrets_state= __devsecrets_project=
    __devsecrets_notice=
    __devsecrets_probe
    # The capability goes to this one process on its stdin (not argv nor the environment,
    # which other processes can read in /proc; printf is a builtin: no process shows it).
    # $$ is this shell even inside $(…), and the agent binds the session to it. The output
    # is split by expansion: a here-string would go through a temporary file.
    if out=$(printf '%s' "$cap" | DEVSECRETS_SESSION_FD=0 "$__devsecrets_python" -I -S \
        -c "$__devsecrets_code" "$__devsecrets_pkg" "$$" "$config" "$record" "$state" \
        "$project" ${__devsecrets_flags:+"$__devsecrets_flags"}); then
        __devsecrets_cap= # answered: its `cap=` line, if any, is the one to hold now
    fi
    cap=
    for line in "${(@f)out}"; do
        case $line in
            (state=*) __devsecrets_state=${line#*=} ;;
            (project=*) __devsecrets_project=${line#*=} ;;
            (record=*) __devsecrets_record=${line#*=} ;;
            (cap=*) __devsecrets_cap=${line#*=} ;;
            (notice=*) __devsecrets_notice=${line#*=} ;;
        esac
    done
    __devsecrets_probe
}

# devsecrets itself; `devsecrets run` is given this shell's session capability (when it
# holds one) on a pipe, fd 9 of that one process, and is then served by the agent. Only
# `run` uses it: other commands start programs of their own (`op`, a config's `rotate:`
# command). `function` keeps an alias named devsecrets from being expanded here.
function devsecrets {
    setopt local_options no_xtrace # `setopt xtrace` would print the capability
    if [[ ${1-} == run && -n ${__devsecrets_cap-} ]]; then
        DEVSECRETS_SESSION_FD=9 command devsecrets "$@" 9< <(printf '%s' "$__devsecrets_cap")
    else
        command devsecrets "$@"
    fi
}

