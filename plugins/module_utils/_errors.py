# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one exception the engine raises for anything the user can fix."""

from __future__ import annotations


class FuncCountError(Exception):
    """A failure with one sentence for the user and whatever partial result exists."""

    def __init__(self, msg, **partial):
        super(FuncCountError, self).__init__(msg)
        self.msg = msg
        self.partial = partial
