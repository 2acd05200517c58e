# tradeterm 的两条命令：make run（安装并以离线默认方式启动）与 make test（安装并运行全部测试）。
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# 安装标记：pyproject.toml 变化时才重新安装，重复执行 make 很快。
STAMP := $(VENV)/.installed

.PHONY: run test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tradeterm

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
