# tradeterm 的两条命令：make run（安装并以离线默认方式启动）与 make test（安装并运行全部测试）。
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# 安装标记：pyproject.toml 变化时才重新安装，重复执行 make 很快。
STAMP := $(VENV)/.installed

.PHONY: run test install kernels clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# 预编译 numba 内核（tradeterm/aot.py）：源码没变时什么也不做（约 0.1 秒）；编译失败（例如没有 C 编译器）时照常继续，
# 内核改由 numba 在第一次使用时编译并缓存
kernels: $(STAMP)
	$(BIN)/python -m tradeterm.aot build --if-needed || echo "warning: could not precompile the kernels; numba compiles them on first use"

install: kernels

run: kernels
	$(BIN)/tradeterm

test: kernels
	$(BIN)/python -m pytest -q -n auto

clean:
	rm -rf $(VENV) .pytest_cache tradeterm/_aot_*
