<#
.Synopsis
Activate a Python virtual environment for the current PowerShell session.

.Description
Puts the virtual environment's scripts directory first on PATH, sets
VIRTUAL_ENV and VIRTUAL_ENV_PROMPT, and prefixes the prompt (unless
VIRTUAL_ENV_DISABLE_PROMPT is set). Run `deactivate` to undo.

Must be dot-sourced: `. <venv>/bin/Activate.ps1`. Created by PyBun.
#>

function global:deactivate ([switch]$NonDestructive) {
    # Restore the prompt, PYTHONHOME and PATH activation changed.
    if (Test-Path -Path Function:_OLD_VIRTUAL_PROMPT) {
        Copy-Item -Path Function:_OLD_VIRTUAL_PROMPT -Destination Function:prompt
        Remove-Item -Path Function:_OLD_VIRTUAL_PROMPT
    }
    if (Test-Path -Path Env:_OLD_VIRTUAL_PYTHONHOME) {
        Copy-Item -Path Env:_OLD_VIRTUAL_PYTHONHOME -Destination Env:PYTHONHOME
        Remove-Item -Path Env:_OLD_VIRTUAL_PYTHONHOME
    }
    if (Test-Path -Path Env:_OLD_VIRTUAL_PATH) {
        Copy-Item -Path Env:_OLD_VIRTUAL_PATH -Destination Env:PATH
        Remove-Item -Path Env:_OLD_VIRTUAL_PATH
    }
    if (Test-Path -Path Env:VIRTUAL_ENV) {
        Remove-Item -Path Env:VIRTUAL_ENV
    }
    if (Test-Path -Path Env:VIRTUAL_ENV_PROMPT) {
        Remove-Item -Path Env:VIRTUAL_ENV_PROMPT
    }
    if (Get-Variable -Name "_PYTHON_VENV_PROMPT_PREFIX" -ErrorAction SilentlyContinue) {
        Remove-Variable -Name _PYTHON_VENV_PROMPT_PREFIX -Scope Global -Force
    }
    if (-not $NonDestructive) {
        # Self destruct!
        Remove-Item -Path Function:deactivate
    }
}

# Undo a previous activation, keeping `deactivate`.
deactivate -NonDestructive

$VenvDir = __VENV_DIR__
$VenvExecDir = Join-Path -Path $VenvDir -ChildPath __VENV_BIN_NAME__
$Prompt = __VENV_PROMPT__

$Env:VIRTUAL_ENV = $VenvDir
$Env:VIRTUAL_ENV_PROMPT = $Prompt

if (-not $Env:VIRTUAL_ENV_DISABLE_PROMPT) {
    function global:_OLD_VIRTUAL_PROMPT { "" }
    Copy-Item -Path Function:prompt -Destination Function:_OLD_VIRTUAL_PROMPT
    New-Variable -Name _PYTHON_VENV_PROMPT_PREFIX -Description "Python virtual environment prompt prefix" -Scope Global -Option ReadOnly -Visibility Public -Value $Prompt

    function global:prompt {
        Write-Host -NoNewline -ForegroundColor Green "($_PYTHON_VENV_PROMPT_PREFIX) "
        _OLD_VIRTUAL_PROMPT
    }
}

# PYTHONHOME would point the venv's interpreter at another installation.
if (Test-Path -Path Env:PYTHONHOME) {
    Copy-Item -Path Env:PYTHONHOME -Destination Env:_OLD_VIRTUAL_PYTHONHOME
    Remove-Item -Path Env:PYTHONHOME
}

Copy-Item -Path Env:PATH -Destination Env:_OLD_VIRTUAL_PATH
$Env:PATH = "$VenvExecDir$([System.IO.Path]::PathSeparator)$Env:PATH"
