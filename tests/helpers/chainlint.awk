# chainlint.awk: checks that the commands of a test body are chained with &&.
#
#   awk -f chainlint.awk BODYFILE
#
# A parser of the body text, never an evaluation of it: nothing in the body
# runs. The text is split into words and operators (quotes, $(...), ${...},
# backquotes, comments, heredocs and backslash-newlines are understood), then
# every command separator (a newline or ';') is judged. A separator is fine
# after &&, ||, |, &, {, (, then, do, else, in (of a case), ;; and a case
# pattern's ')', and before then, do, done, fi, esac, else, elif, }, ), ;;,
# return and exit (a failure path: "|| { cat err; exit 1; }") and at the end
# of the body. Anything else is a broken chain: the script
# prints "line N: TEXT" for the first one and exits 1.

function flush() {
	if (word != "") {
		ntok++
		tok[ntok] = word
		tline[ntok] = wline
		word = ""
	}
}

function emit(t, l) {
	flush()
	ntok++
	tok[ntok] = t
	tline[ntok] = l
}

function addword(s) {
	if (word == "")
		wline = line
	word = word s
}

# skip_quoted(i, q): i is at an opening quote q; returns the index of the
# closing one (counting newlines).
function skip_quoted(i, q,    c) {
	for (i++; i <= n; i++) {
		c = substr(text, i, 1)
		if (c == "\n")
			line++
		if (q != "'" && c == "\\") {
			i++
			if (substr(text, i, 1) == "\n")
				line++
			continue
		}
		if (q == "\"" && c == "$" && substr(text, i + 1, 1) == "(") {
			i = skip_paren(i + 1)
			continue
		}
		if (c == q)
			return i
	}
	return n
}

# skip_paren(i): i is at an opening ( or {; returns the index of its match.
function skip_paren(i,    c, opener, closer, depth) {
	opener = substr(text, i, 1)
	closer = opener == "(" ? ")" : "}"
	depth = 0
	for (; i <= n; i++) {
		c = substr(text, i, 1)
		if (c == "\n")
			line++
		else if (c == "\\")
			i++
		else if (c == "'" || c == "\"" || c == "`")
			i = skip_quoted(i, c)
		else if (c == opener)
			depth++
		else if (c == closer && --depth == 0)
			return i
	}
	return n
}

# read_heredocs(i): i is just after a newline; skips the bodies of the
# heredocs started on the line before and returns the index after them.
function read_heredocs(i,    k, l, e) {
	for (k = 1; k <= nhd; k++) {
		for (;;) {
			if (i > n)
				break
			e = index(substr(text, i), "\n")
			l = e ? substr(text, i, e - 1) : substr(text, i)
			i += e ? e : length(l) + 1
			line++
			if (hdstrip[k])
				sub(/^\t+/, "", l)
			if (l == hdword[k])
				break
		}
	}
	nhd = 0
	return i
}

function is_kw(t) {
	return t ~ /^(if|then|else|elif|fi|for|while|until|do|done|case|esac|in|[{}]|!)$/
}

BEGIN {
	text = ""
}

{
	text = text $0 "\n"
	src[NR] = $0
}

END {
	n = length(text)
	line = 1
	ntok = 0
	nhd = 0
	word = ""
	for (i = 1; i <= n; i++) {
		c = substr(text, i, 1)
		if (c == "\\") {
			if (substr(text, i + 1, 1) == "\n") {
				i++
				line++
			} else {
				addword(substr(text, i, 2))
				i++
			}
		} else if (c == "'" || c == "\"" || c == "`") {
			s = line
			j = skip_quoted(i, c)
			if (word == "")
				wline = s
			word = word substr(text, i, j - i + 1)
			i = j
		} else if (c == "$" && (substr(text, i + 1, 1) == "(" || substr(text, i + 1, 1) == "{")) {
			if (word == "")
				wline = line
			j = skip_paren(i + 1)
			word = word substr(text, i, j - i + 1)
			i = j
		} else if (c == "#" && word == "") {
			while (i < n && substr(text, i + 1, 1) != "\n")
				i++
		} else if (c == "\n") {
			emit("NL", line)
			line++
			if (nhd) {
				i = read_heredocs(i + 1) - 1
			}
		} else if (c == " " || c == "\t") {
			flush()
		} else if (c == "<" && substr(text, i + 1, 1) == "<" && substr(text, i + 2, 1) != "<") {
			i += 2
			strip = 0
			if (substr(text, i, 1) == "-") {
				strip = 1
				i++
			}
			while (substr(text, i, 1) ~ /[ \t]/)
				i++
			d = ""
			while (i <= n && substr(text, i, 1) !~ /[ \t\n;&|<>()]/) {
				ch = substr(text, i, 1)
				if (ch != "'" && ch != "\"" && ch != "\\")
					d = d ch
				i++
			}
			i--
			nhd++
			hdword[nhd] = d
			hdstrip[nhd] = strip
		} else if (c == "&" || c == "|" || c == ";") {
			if (c == "&" && word ~ /[<>]$/) {
				addword(c)
			} else if (substr(text, i + 1, 1) == c) {
				emit(c c, line)
				i++
			} else {
				emit(c, line)
			}
		} else if (c == "(" || c == ")") {
			emit(c, line)
		} else {
			addword(c)
		}
	}
	flush()

	# Judge every separator. kw[k] says whether token k is a reserved word
	# (a keyword in command position); incase > 0 inside case ... esac, with
	# pattern[incase] set while reading a pattern.
	cmdpos = 1
	incase = 0
	await_in = 0
	prev = 0
	for (k = 1; k <= ntok; k++) {
		t = tok[k]
		kw[k] = 0
		if (incase && pattern[incase] && t != "NL") {
			if (t == "esac") {
				kw[k] = 1
				incase--
				cmdpos = 0
			} else if (t == ")") {
				tok[k] = "PAT)"
				pattern[incase] = 0
				cmdpos = 1
			}
			prev = k
			continue
		}
		if (t == "NL" || t == ";") {
			if (!(incase && pattern[incase]) && prev && !ok_after(prev) && !ok_before(k)) {
				printf "line %d: %s\n", tline[prev], src[tline[prev]]
				exit 1
			}
			cmdpos = 1
			if (t == ";")
				prev = k
			continue
		}
		if (t == "&&" || t == "||" || t == "|" || t == "&" || t == "(") {
			cmdpos = 1
		} else if (t == ";;") {
			if (incase)
				pattern[incase] = 1
			cmdpos = 1
		} else if (t == ")") {
			cmdpos = k > 1 && tok[k - 1] == "("
		} else if (await_in && t == "in") {
			kw[k] = 1
			await_in = 0
			incase++
			pattern[incase] = 1
		} else if (cmdpos && is_kw(t)) {
			kw[k] = 1
			if (t == "case")
				await_in = 1
			if (t == "esac" && incase)
				incase--
			cmdpos = t ~ /^(if|then|else|elif|do|while|until|[{]|!)$/
		} else {
			cmdpos = 0
		}
		prev = k
	}
	exit 0
}

# ok_after(p): a separator may follow token p.
function ok_after(p,    t) {
	t = tok[p]
	if (t ~ /^(&&|\|\||\||&|\(|;;|PAT\)|;)$/)
		return 1
	return kw[p] && t ~ /^(then|do|else|in|[{]|!)$/
}

# ok_before(k): the separator at k may come right before the next token.
function ok_before(k,    j) {
	for (j = k + 1; j <= ntok && tok[j] == "NL"; j++)
		;
	if (j > ntok)
		return 1
	return tok[j] ~ /^(then|do|done|fi|esac|else|elif|[}]|\)|;;|return|exit)$/
}
