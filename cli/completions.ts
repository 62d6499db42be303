/**
 * Shell completions for bash, zsh and fish, made from the option table
 * (`lib_users --completions SHELL`): every option, the values of those that
 * take a few, files and directories where a value names one.
 *
 * @module
 */

import { longForms, OPTIONS, type OptionSpec, type ValueSpec } from "./options.ts";

/** The shells completions are made for. */
export type Shell = "bash" | "zsh" | "fish";

/** The commands completed: the tool, and its open-files form. */
const COMMANDS = ["lib_users", "fd_users"] as const;

/** The completion script for `shell`. */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case "bash":
      return bashScript();
    case "zsh":
      return zshScript();
    case "fish":
      return fishScript();
  }
}

/** The value an option takes, if any (a switch's optional value is given with `=`). */
function valueOf(option: OptionSpec): ValueSpec | undefined {
  return option.value ?? option.optionalValue;
}

/** A short description: the help up to its first clause, without characters shells treat apart. */
function summary(option: OptionSpec): string {
  const first = option.help.split(/[;:(]/)[0]!.trim();
  return first.replace(/[^A-Za-z0-9 ,./=*+-]/g, "");
}

function bashScript(): string {
  const words = OPTIONS.flatMap((o) => [...(o.short ? [`-${o.short}`] : []), ...longForms(o)]);
  const cases = OPTIONS.flatMap((option) => {
    const value = option.value;
    if (value === undefined) return [];
    const names = [...(option.short ? [`-${option.short}`] : []), ...longForms(option)].join("|");
    return [`    ${names}) ${bashValues(value)} return ;;`];
  });
  const equals = OPTIONS.flatMap((option) => {
    const value = valueOf(option);
    if (value === undefined) return [];
    return [`    --${option.name}) ${bashValues(value)} return ;;`];
  });
  return `# bash completion for ${COMMANDS.join(" and ")}: lib_users --completions bash
_lib_users() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  COMPREPLY=()
  # --name=value: bash splits it at "=" into three words.
  if [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
    case \${COMP_WORDS[COMP_CWORD-2]} in
${equals.join("\n")}
    esac
    return
  fi
  if [[ $cur == "=" ]]; then
    cur=""
    case $prev in
${equals.join("\n")}
    esac
    return
  fi
  case $prev in
${cases.join("\n")}
  esac
  COMPREPLY=($(compgen -W "${words.join(" ")}" -- "$cur"))
}
complete -F _lib_users ${COMMANDS.join(" ")}
`;
}

function bashValues(value: ValueSpec): string {
  if (value.choices) return `COMPREPLY=($(compgen -W "${value.choices.join(" ")}" -- "$cur"));`;
  if (value.names === "directory") return `COMPREPLY=($(compgen -d -- "$cur"));`;
  if (value.names === "file") return `COMPREPLY=($(compgen -f -- "$cur"));`;
  return "";
}

function zshScript(): string {
  const specs = OPTIONS.flatMap((option) => {
    const forms = [...(option.short ? [`-${option.short}`] : []), ...longForms(option)];
    // Forms of one option exclude each other, but a repeatable one may come again.
    const exclusive = option.kind === "list" ? "*" : forms.length > 1 ? `(${forms.join(" ")})` : "";
    const description = `[${summary(option)}]`;
    return forms.map((form) => {
      const long = form.startsWith("--");
      if (option.kind === "switch") {
        const optional = option.optionalValue;
        if (optional && long) return `'${exclusive}${form}=-${description}${zshAction(optional)}'`;
        return `'${exclusive}${form}${description}'`;
      }
      const joined = long ? `${form}=` : `${form}+`;
      return `'${exclusive}${joined}${description}${zshAction(option.value!)}'`;
    });
  });
  return `#compdef ${COMMANDS.join(" ")}
# zsh completion for ${COMMANDS.join(" and ")}: lib_users --completions zsh
_arguments -s \\
${specs.map((spec) => `  ${spec}`).join(" \\\n")}
`;
}

function zshAction(value: ValueSpec): string {
  const action = value.choices
    ? `(${value.choices.join(" ")})`
    : value.names === "directory"
    ? "_files -/"
    : value.names === "file"
    ? "_files"
    : " ";
  return `:${value.name}:${action}`;
}

function fishScript(): string {
  const lines = OPTIONS.flatMap((option) =>
    COMMANDS.map((command) => {
      const parts = [`complete -c ${command}`];
      if (option.short) parts.push(`-s ${option.short}`);
      const names = option.negatable ? [`no-${option.name}`] : [
        option.name,
        ...(option.aliases ?? []),
      ];
      for (const name of names) parts.push(`-l ${name}`);
      const value = option.value;
      if (value?.choices) parts.push(`-x -a '${value.choices.join(" ")}'`);
      else if (value?.names === "directory") parts.push("-x -a '(__fish_complete_directories)'");
      else if (value?.names === "file") parts.push("-r -F");
      else if (value) parts.push("-x");
      parts.push(`-d '${summary(option)}'`);
      return parts.join(" ");
    })
  );
  return `# fish completion for ${COMMANDS.join(" and ")}: lib_users --completions fish
${lines.join("\n")}
`;
}
