"""The icon and stylesheet are found from the checkout and are usable by Qt as shipped."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.resources import app_icon, load_stylesheet, resource_dir, resource_path

ROOT = Path(__file__).resolve().parents[1]


def test_resources_found_in_the_checkout() -> None:
    assert resource_dir() == ROOT / "resources"
    for name in ("tradedeck.svg", "tradedeck-256.png", "tradedeck-64.png", "dark.qss"):
        assert resource_path(name).is_file()


def test_missing_resource_is_an_error() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        resource_path("no-such-file.png")


def test_stylesheet_urls_point_at_existing_files() -> None:
    qss = load_stylesheet()
    assert "@RES@" not in qss
    urls = re.findall(r"url\(([^)]+)\)", qss)
    assert urls, "the stylesheet should use the bundled arrow and check images"
    for url in urls:
        assert Path(url).is_file(), url
    for selector in ("QPushButton#panicButton", "QPushButton#buyButton", "QPushButton#sellButton"):
        assert selector in qss


def test_stylesheet_parses_and_icon_loads(qapp) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSize, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QComboBox, QMainWindow, QPushButton, QTableView

    problems: list[str] = []

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg and "stylesheet" in message.lower():
            problems.append(message)

    previous = qInstallMessageHandler(handler)
    try:
        window = QMainWindow()
        window.setStyleSheet(load_stylesheet())
        for name in ("panicButton", "buyButton", "sellButton"):
            button = QPushButton(name, window)
            button.setObjectName(name)
            button.ensurePolished()
        QComboBox(window).ensurePolished()
        QTableView(window).ensurePolished()
        window.ensurePolished()
        panic = window.findChild(QPushButton, "panicButton")
        assert panic is not None
        # the panic style really applied: its background is red, not the default grey
        colour = panic.palette().color(panic.backgroundRole())
        assert colour.red() > 150, colour.name()
        assert colour.green() < 80, colour.name()
        window.deleteLater()
    finally:
        qInstallMessageHandler(previous)
    assert problems == []

    icon = app_icon()
    assert not icon.isNull()
    assert QSize(256, 256) in icon.availableSizes()
    assert not icon.pixmap(48, 48).isNull()
