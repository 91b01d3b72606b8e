# The command words of a bash file, for tests/check-commands: prints
# "FILE:LINE WORD" for the first word of every simple command that is a plain
# name (not a variable, not a path, not quoted).
#
# A small tokenizer that follows bash's quoting well enough for this: it
# tracks single and double quotes, $( ) and backticks (inside double quotes
# too), $(( )) arithmetic, NAME=( ) arrays, comments and here-documents across
# lines. Text inside quotes is not scanned (only the $( ) in double quotes):
# quoted strings hold what runs inside containers (`sh -c '...'`), awk and jq
# programs, and messages. After `run`, `!`, `exec`, `command`, `then`, `do`...
# the next word is the command; after a wrapper (timeout, env, xargs, nice,
# setsid, wait_for) the word it runs is a command as well.
#
# usage: awk -v file=NAME -f tests/shell-commands.awk NAME

BEGIN {
	n = split("run ! exec command builtin time nohup then do else elif if while until", w, " ")
	for (i = 1; i <= n; i++) prefix[w[i]] = 1
	n = split("timeout env xargs nice setsid wait_for", w, " ")
	for (i = 1; i <= n; i++) wrapper[w[i]] = 1
	n = split("for case select function", w, " ")
	for (i = 1; i <= n; i++) noncommand[w[i]] = 1
	sp = 0; ctx[0] = "N"; depth[0] = 0
	start = 1; word = ""; skipnext = 0; heredoc = ""
}

function push(c) { ctx[++sp] = c; depth[sp] = 0 }

# $( ) and backticks: a command inside another's word; the outer command's
# state comes back when it ends.
function open_subst(c) {
	push(c)
	saved_start[sp] = start; saved_word[sp] = word; saved_skip[sp] = skipnext
	word = ""; sep()
}

function close_subst() {
	flush()
	start = saved_start[sp]; word = saved_word[sp] "$"; skipnext = saved_skip[sp]
	sp--
}

# A command boundary: the next word starts a command.
function sep() { start = 1; skipnext = 0 }

# The word just ended.
function flush() {
	if (word == "") return
	if (skipnext) { skipnext = 0; word = ""; return }
	if (start) {
		if (word in prefix || word ~ /^[A-Za-z_][A-Za-z0-9_]*\+?=/ || word ~ /^-/ || word ~ /^[0-9.]+[smh]?$/) {
			# still before the command word
		} else {
			if (word ~ /^[A-Za-z_][A-Za-z0-9_.+-]*$/) print file ":" NR " " word
			start = (word in wrapper)
			if (word in noncommand) start = 0
		}
	}
	word = ""
}

# Inside a here-document: skip to its delimiter.
heredoc != "" {
	t = $0
	if (heredoc_strip) sub(/^\t+/, "", t)
	if (t == heredoc) heredoc = ""
	next
}

{
	line = $0; len = length(line); i = 1; pending = ""
	while (i <= len) {
		c = substr(line, i, 1); c2 = substr(line, i, 2); c3 = substr(line, i, 3)
		x = ctx[sp]
		if (x == "S") { if (c == "'") sp--; i++; continue }
		if (x == "D") {
			if (c == "\\") { i += 2; continue }
			if (c == "\"") { sp--; i++; continue }
			if (c3 == "$((") { push("A"); i += 3; continue }
			if (c2 == "$(") { open_subst("C"); i += 2; continue }
			if (c == "`") { open_subst("B"); i++; continue }
			i++; continue
		}
		if (x == "A") {
			if (c == "(") depth[sp]++
			else if (c == ")") {
				if (depth[sp] == 0 && c2 == "))") { sp--; i += 2; continue }
				depth[sp]--
			}
			i++; continue
		}
		if (x == "R") {
			if (c == ")") sp--
			else if (c == "'") push("S")
			else if (c == "\"") push("D")
			i++; continue
		}
		# N (top level), C ($( ) command substitution), B (backticks): shell code
		if (c == "\\") { word = word "\\"; i += 2; continue }
		if (c == "'") { word = word "'"; push("S"); i++; continue }
		if (c == "\"") { word = word "\""; push("D"); i++; continue }
		if (c == "#" && word == "") break
		if (c3 == "$((") { word = word "$"; push("A"); i += 3; continue }
		if (c2 == "$(") { open_subst("C"); i += 2; continue }
		if (c == "`") {
			if (x == "B") close_subst(); else open_subst("B")
			i++; continue
		}
		if (c2 == "${") {
			# a parameter expansion is part of the word, braces and all
			d = 0
			for (j = i + 1; j <= len; j++) {
				cj = substr(line, j, 1)
				if (cj == "{") d++
				else if (cj == "}" && --d == 0) break
			}
			word = word "$"; i = j + 1; continue
		}
		if (c == "$") { word = word c; i++; continue }
		if (c == "(") {
			if (word ~ /^[A-Za-z_][A-Za-z0-9_]*\+?=$/) { word = ""; push("R"); i++; continue }
			if (x == "C") depth[sp]++
			flush(); sep(); i++; continue
		}
		if (c == ")") {
			# a case arm's pattern is not a command
			if (start && word != "") word = ""
			if (x == "C" && depth[sp] == 0) { close_subst(); i++; continue }
			flush()
			if (x == "C") depth[sp]--
			sep(); i++; continue
		}
		if (c3 == "<<<") { flush(); skipnext = 1; i += 3; continue }
		if (c2 == "<<") {
			flush()
			rest = substr(line, i + 2)
			heredoc_strip = (substr(rest, 1, 1) == "-")
			if (heredoc_strip) rest = substr(rest, 2)
			if (match(rest, /^[ \t]*["']?[A-Za-z_][A-Za-z0-9_]*["']?/)) {
				pending = substr(rest, RSTART, RLENGTH)
				gsub(/[ \t"']/, "", pending)
				pending_strip = heredoc_strip
				i += 2 + heredoc_strip + RLENGTH
				continue
			}
			i += 2; continue
		}
		# {name}>file, {name}<&-: a redirection to a variable's descriptor, not a group
		if (c == "{" && match(substr(line, i), /^\{[A-Za-z_][A-Za-z0-9_]*\}[<>]/)) {
			flush(); word = ""; skipnext = 1; i += RLENGTH
			while (substr(line, i, 1) ~ /[<>&]/) i++
			continue
		}
		if (c == ";" || c == "&" || c == "|" || c == "{" || c == "}") { flush(); sep(); i++; continue }
		if (c == "<" || c == ">") { word = ""; skipnext = 1; i++; while (substr(line, i, 1) ~ /[>&]/) i++; continue }
		if (c == " " || c == "\t") { flush(); i++; continue }
		word = word c; i++
	}
	if (ctx[sp] == "N" || ctx[sp] == "C" || ctx[sp] == "B") {
		flush()
		# a line ending in | && || \ continues the command; otherwise it ends here
		if (line !~ /\\$/) sep()
	}
	if (pending != "") { heredoc = pending; heredoc_strip = pending_strip }
}
