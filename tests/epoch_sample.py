"""A small sample in the CSV layout of Epoch AI's downloads, written at test time for the importer's tests.

Facts only (model names, scores, dates, sources), in Epoch's column names, for the columns the importer reads; Epoch's
files themselves are not copied. Facts from Epoch AI, "Data on AI Benchmarking" and "Data on AI Models", CC BY 4.0,
https://epoch.ai/data/ai-benchmarking-dashboard and https://epoch.ai/data/ai-models.
"""

from __future__ import annotations

from pathlib import Path

HUB = {
    "mmlu_external.csv": """Model version,EM,Release date,Organization,Name,Shots,Source,Source link
,0.667,,,AquilaChat2 34B,5,Yi: Open Foundation Models by 01.AI,http://arxiv.org/abs/2403.04652
,0.8393,,,GPT-4,5,Baichuan 2: Open Large-scale Language Models,http://arxiv.org/abs/2309.10305
gpt-4-0314,0.864,2023-03-14,OpenAI,GPT-4 (initial release),5,GPT-4 Technical Report,https://arxiv.org/pdf/2303.08774
LLaMA-7B,0.351,2023-02-24,Meta AI,LLAMA 1 7B,5,Llama 2: Open Foundation and Fine-Tuned Chat Models,http://arxiv.org/abs/2307.09288
LLaMA-7B,0.356,2023-02-24,Meta AI,LLaMA 7B,5,Qwen Technical Report,https://arxiv.org/pdf/2309.16609
LLaMA-7B,0.351,2023-02-24,Meta AI,LLaMA 7B,5,LLaMA: Open and Efficient Foundation Language Models,http://arxiv.org/abs/2302.13971
LLaMA-7B,0.32,2023-02-24,Meta AI,LLaMA-7B,0,XGen-7B Technical Report,http://arxiv.org/abs/2309.03450
Mixtral-8x7B-v0.1,0.706,2023-12-11,Mistral AI,Mixtral 8x7B,5,Mixtral of Experts,https://arxiv.org/pdf/2401.04088
Mixtral-8x7B-v0.1,0.705,2023-12-11,Mistral AI,Mixtral 8x7b           ,5,Phi-3 Technical Report,http://arxiv.org/abs/2404.14219
Qwen2.5-Coder-7B,0.68,2024-09-18,Alibaba,Qwen2.5-Coder-7B,,Qwen2.5-Coder Technical Report,http://arxiv.org/abs/2409.12186
""",
    "gpqa_diamond.csv": """Model version,mean_score,Best score (across scorers),Release date,Organization,Logs
gpt-4-0314,0.3573232323232323,0.3573232323232323,2023-03-14,OpenAI,
qwen3-235b-a22b,0.7070707070707071,0.7070707070707071,2025-04-29,Alibaba,
phi-4,0.5606060606060606,0.5606060606060606,2024-12-12,Microsoft Research,
""",
    "epoch_capabilities_index.csv": """Model version,Release date,Organization,Model accessibility,Model name,Display name
gpt-4-0314,2023-03-14,OpenAI,API access,GPT-4 (Mar 2023),GPT-4 (Mar 2023)
qwen3-235b-a22b,2025-04-29,Alibaba,Open weights (unrestricted),Qwen3-235B-A22B,
phi-4,2024-12-12,Microsoft Research,Open weights (unrestricted),Phi-4,
Mixtral-8x7B-v0.1,2023-12-11,Mistral AI,Open weights (unrestricted),Mixtral 8x7B,
LLaMA-7B,2023-02-24,Meta AI,Open weights (non-commercial),LLaMA-7B,
Qwen2.5-Coder-32B,2024-09-18,Alibaba,Open weights (unrestricted),Qwen2.5-Coder (32B),
""",
}
AI_MODELS = {
    "large_scale_ai_models.csv": """Model,Organization,Publication date,Parameters,Model accessibility
Phi-4,Microsoft Research,2024-12-12,14000000000.0,Open weights (unrestricted)
Mixtral 8x7B,Mistral AI,2023-12-11,46700000000.0,Open weights (unrestricted)
GPT-4,OpenAI,2023-03-15,1800000000000.0,API access
""",
}


def write_epoch_sample(root: Path) -> tuple[Path, Path]:
    """A Benchmarking Hub folder and a Data on AI Models folder under root; (hub, ai_models)."""
    folders = []
    for name, files in (("benchmarking_hub", HUB), ("ai_models", AI_MODELS)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        folders.append(folder)
    return folders[0], folders[1]
