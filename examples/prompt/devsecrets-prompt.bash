# The devsecrets state of the current directory in a bash or zsh prompt, at no cost: it
# reads the shell hook's own variables (unexported, so only this shell sees them) and
# starts no process. Load it after the hook, e.g. at the end of ~/.bashrc or ~/.zshrc:
#
#   source /path/to/devsecrets-prompt.bash
#
# Shows "[web-app]" in a trusted project, "[untrusted]" where the config needs review,
# "[denied]" where it was refused, nothing elsewhere.

__devsecrets_ps1() {
    case ${__devsecrets_state-} in
        allowed) __devsecrets_ps1_text="[${__devsecrets_project-}] " ;;
        not_allowed | changed | expired) __devsecrets_ps1_text="[untrusted] " ;;
        denied) __devsecrets_ps1_text="[denied] " ;;
        error) __devsecrets_ps1_text="[devsecrets?] " ;;
        *) __devsecrets_ps1_text= ;;
    esac
}

if [ -n "${ZSH_VERSION-}" ]; then
    setopt PROMPT_SUBST
    precmd_functions+=(__devsecrets_ps1) # after the hook's precmd, which it appended first
    PROMPT='${__devsecrets_ps1_text}'"$PROMPT"
else
    # After the hook in PROMPT_COMMAND (the hook puts itself first), so the state is fresh.
    if [[ ${PROMPT_COMMAND@a} == *a* ]]; then
        PROMPT_COMMAND+=(__devsecrets_ps1)
    else
        PROMPT_COMMAND="${PROMPT_COMMAND:+$PROMPT_COMMAND;}__devsecrets_ps1"
    fi
    PS1='${__devsecrets_ps1_text}'"$PS1"
fi
