# bash completion for cryo: commands, each command's options, and the names
# of the engine's containers, images and volumes. Everything comes from cryo
# itself (`cryo __complete ...`), run with the --root/--runroot/--config
# of the command line being completed.

_cryo_globals_with_value="--root --runroot --runtime --config --log-level"

_cryo() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	[ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cryo=${COMP_WORDS[0]} i=1 word
	local -a globals=()

	# Global options come before the command.
	while [ "$i" -lt "$COMP_CWORD" ]; do
		word=${COMP_WORDS[i]}
		case " $_cryo_globals_with_value " in
		*" $word "*)
			globals+=("$word" "${COMP_WORDS[i + 1]}")
			i=$((i + 2))
			continue
			;;
		esac
		case $word in
		--*=*) globals+=("$word") ;;
		-*) ;;
		*) break ;;
		esac
		i=$((i + 1))
	done
	_cryo_run() { "$cryo" "${globals[@]}" __complete "$@" 2>/dev/null; }

	if [ "$i" -ge "$COMP_CWORD" ]; then
		case $prev in
		--log-level)
			COMPREPLY=($(compgen -W "debug info warn error" -- "$cur"))
			return
			;;
		--root | --runroot | --config | --runtime)
			COMPREPLY=($(compgen -f -- "$cur"))
			return
			;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$_cryo_globals_with_value --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_cryo_run commands | cut -d' ' -f1 | sort -u)" -- "$cur"))
		fi
		return
	fi

	# The command: one word, or a group and its verb. A group can be a command
	# too (`checkpoint CONTAINER`, `checkpoint inspect FILE`): the next word is
	# a verb only when it is one of the group's.
	local -a commands verbs=()
	mapfile -t commands < <(_cryo_run commands)
	local command=${COMP_WORDS[i]} words=1 c also= is_command=0
	for c in "${commands[@]}"; do
		[[ $c == "${COMP_WORDS[i]} "* ]] && verbs+=("${c#* }")
		[ "$c" = "${COMP_WORDS[i]}" ] && is_command=1
	done
	if [ ${#verbs[@]} -gt 0 ]; then
		if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
			if [ "$is_command" = 0 ]; then
				COMPREPLY=($(compgen -W "${verbs[*]}" -- "$cur"))
				return
			fi
			also="${verbs[*]}"
		elif [[ " ${verbs[*]} " == *" ${COMP_WORDS[i + 1]} "* ]]; then
			command="${COMP_WORDS[i]} ${COMP_WORDS[i + 1]}"
			words=2
		fi
	fi

	# The option before the cursor takes a value?
	local -a options
	mapfile -t options < <(_cryo_run options $command)
	if [[ $prev == -* ]]; then
		local o
		for o in "${options[@]}"; do
			[[ $o == "$prev=" ]] || continue
			case $prev in
			--volume | -v) COMPREPLY=($(compgen -W "$(_cryo_run volumes)" -- "$cur")) ;;
			--network) COMPREPLY=($(compgen -W "none host" -- "$cur")) ;;
			--progress) COMPREPLY=($(compgen -W "auto json none" -- "$cur")) ;;
			--format | -f) COMPREPLY=($(compgen -W "json table text" -- "$cur")) ;;
			--parallel) COMPREPLY=($(compgen -W "1 2 4 8 16 $(nproc 2>/dev/null)" -- "$cur")) ;;
			--create-image) COMPREPLY=($(compgen -W "$(_cryo_run images)" -- "$cur")) ;;
			--name) COMPREPLY=() ;;
			*) COMPREPLY=($(compgen -f -- "$cur")) ;;
			esac
			return
		done
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "${options[*]%=}" -- "$cur"))
		return
	fi

	# Positional arguments: how many come before the cursor?
	local args=0 j
	for ((j = i + words; j < COMP_CWORD; j++)); do
		[[ ${COMP_WORDS[j]} == -* ]] && continue
		[[ " ${options[*]} " == *" ${COMP_WORDS[j - 1]}= "* ]] && continue
		args=$((args + 1))
	done
	case $command in
	run | create)
		[ "$args" -eq 0 ] && COMPREPLY=($(compgen -W "$(_cryo_run images)" -- "$cur"))
		;;
	"image rm" | rmi | "image inspect" | "image mount" | "image unmount")
		COMPREPLY=($(compgen -W "$(_cryo_run images)" -- "$cur"))
		;;
	"volume inspect" | "volume rm")
		COMPREPLY=($(compgen -W "$(_cryo_run volumes)" -- "$cur"))
		;;
	exec)
		[ "$args" -eq 0 ] && COMPREPLY=($(compgen -W "$(_cryo_run containers)" -- "$cur"))
		;;
	start | stop | kill | pause | unpause | wait | rm | inspect | logs | attach | checkpoint | migrate)
		COMPREPLY=($(compgen -W "$(_cryo_run containers) $also" -- "$cur"))
		;;
	"checkpoint inspect")
		[ "$args" -eq 0 ] && COMPREPLY=($(compgen -W "$(_cryo_run containers)" -- "$cur") $(compgen -f -- "$cur"))
		;;
	restore)
		# a container, or a checkpoint image
		COMPREPLY=($(compgen -W "$(_cryo_run containers) $(_cryo_run images)" -- "$cur"))
		;;
	"image push")
		[ "$args" -eq 0 ] && COMPREPLY=($(compgen -W "$(_cryo_run images)" -- "$cur"))
		;;
	"image import" | "image load" | "trust add")
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
}

complete -F _cryo cryo
