# This file must be used with "source <venv>/bin/activate.fish" *from fish*
# (https://fishshell.com). You cannot run it directly. Created by PyBun.

function deactivate -d "Exit the virtual environment and return to the normal shell environment"
    # Restore the variables activation changed.
    if test -n "$_OLD_VIRTUAL_PATH"
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if test -n "$_OLD_VIRTUAL_PYTHONHOME"
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end

    if test -n "$_OLD_FISH_PROMPT_OVERRIDE"
        set -e _OLD_FISH_PROMPT_OVERRIDE
        # Nested fish instances may not have the saved prompt.
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end

    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != "nondestructive"
        # Self destruct!
        functions -e deactivate
    end
end

# Undo a previous activation, keeping `deactivate`.
deactivate nondestructive

set -gx VIRTUAL_ENV __VENV_DIR__

set -gx _OLD_VIRTUAL_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/"__VENV_BIN_NAME__ $PATH

# PYTHONHOME would point the venv's interpreter at another installation.
if set -q PYTHONHOME
    set -gx _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

set -gx VIRTUAL_ENV_PROMPT __VENV_PROMPT__
if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    # fish draws its prompt with a function: keep the old one and wrap it.
    functions -c fish_prompt _old_fish_prompt

    function fish_prompt
        # Keep the status of the last command for the old prompt.
        set -l old_status $status

        printf "(%s) " $VIRTUAL_ENV_PROMPT

        echo "exit $old_status" | .
        _old_fish_prompt
    end

    set -gx _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
