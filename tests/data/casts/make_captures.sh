#!/bin/sh
# Re-create the golden captures (asciinema 2.x, run from this directory). Tests only read the .cast files.
set -e
export TERM=xterm-256color LANG=C.UTF-8
rec() { out=$1; shift; rm -f "$out"; asciinema rec -q --cols 120 --rows 40 -c "$*" "$out" </dev/null; }
rec ls-color.cast "ls --color=always -la /usr/share /etc | head -80"
rec vim.cast "vim -N -u NONE -c 'syntax on' -c 'e /etc/services' -c redraw -c 'sleep 400m' -c 'normal 200G' -c redraw -c 'sleep 400m' -c q"
rec less.cast "sh -c 'echo before less; sleep 0.3; (sleep 1.2; kill -TERM \$\$) & exec less /etc/services'"
rec top.cast "top -d 0.5 -n 3"
rec dialog.cast "dialog --infobox 'Gatehouse box test' 8 40; sleep 0.3"
# One capture per fidelity gap (DESIGN.md "Replay fidelity" 1-8).
rec gap1-alternate.cast "printf 'main 1\r\nmain 2\r\n'; printf '\033[?1049h\033[Halt 1049'; sleep 0.2; printf '\033[?1049l'; printf '\033[?47h\033[Halt 47'; sleep 0.2; printf '\033[?47l'; printf '\033[?1047h\033[Halt 1047'; sleep 0.2; printf '\033[?1047l\r\nafter\r\n'"
rec gap2-dec-graphics.cast "printf '\033(0lqqqk\r\nx   x\r\nmqqqj\033(B ascii again\r\n\033)0\016lqk\017 shift\r\n'"
rec gap3-scroll.cast "printf 'row1\r\nrow2\r\nrow3\r\nrow4\033[2S'; sleep 0.2; printf '\033[1T\033[Hkept\r\n'"
rec gap4-rep-cbt-scosc.cast "printf 'ab\033[3b|\r\n'; printf 'x\t\tx\033[Zy\033[2Zz\r\n'; printf '\033[s\033[10;20Hmoved\033[uback\r\n'"
rec gap5-origin-clamp.cast "printf '\033[5;10r\033[?6h\033[30;1Hclamped\033[?6l\033[r\033[20;1Hend\r\n'"
rec gap6-colon-sgr.cast "printf '\033[4:3mcurly\033[4:0m plain \033[38:2::255:0:0mred\033[0m \033[38:5:34mgreen\033[0m done\r\n'"
rec gap7-wide-last-column.cast "printf '%119s\344\270\255after\r\n' ''"
rec gap8-emoji-zwj.cast "printf '\360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247 family \342\235\244\357\270\217 heart done\r\n'"
