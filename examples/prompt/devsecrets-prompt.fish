# The devsecrets state of the current directory in a fish prompt, at no cost: it reads the
# shell hook's own variables (unexported) and starts no process. Load it after the hook in
# ~/.config/fish/config.fish:   source /path/to/devsecrets-prompt.fish
# It adds a right prompt; call __devsecrets_prompt_info from your own prompt instead if
# you already have one.

function __devsecrets_prompt_info
    switch "$__devsecrets_state"
        case allowed
            printf '[%s]' "$__devsecrets_project"
        case not_allowed changed expired
            printf '[untrusted]'
        case denied
            printf '[denied]'
        case error
            printf '[devsecrets?]'
    end
end

function fish_right_prompt
    __devsecrets_prompt_info
end
