"""Whole calls through the real 12333 menu, driven through the engine in memory."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ivr.engine import Engine, Gather, Hangup, Invoke, ServiceDone, Transfer
from ivr.harness import Call
from ivr.menu import Menu

ID = "110101199003074258"  # a valid resident ID (check digit 8)
ID_X = "11010519491231002X"  # a valid resident ID ending in X


def services(**outcomes: str | ServiceDone) -> dict[str, str | ServiceDone]:
    """Stub services, with the agents on duty unless a test says otherwise."""
    stubs: dict[str, str | ServiceDone] = {"agent.hours": "open", "voicemail.save": "saved"}
    stubs.update({k.replace("_", ".", 1): v for k, v in outcomes.items()})
    return stubs


def test_welcome_and_main_menu_are_one_prompt_in_mandarin(menu: Menu) -> None:
    call = Call(menu)
    first = call.actions[0]
    assert isinstance(first, Gather)
    assert len(first.prompts) == 1
    text = first.prompts[0].text
    assert first.prompts[0].language == "zh-CN"
    assert text.startswith("欢迎致电12333")
    for key in "12345":
        assert f"请按{key}" in text
    assert "For English, please press 9" in text
    assert first.max_digits == 1 and first.finish_key == "" and first.timeout == 5


@pytest.mark.parametrize(
    ("key", "node", "words"),
    [
        ("1", "activate_id", "身份证号码"),
        ("2", "loss", "临时挂失"),
        ("3", "status_id", "身份证号码"),
        ("4", "ecard", "电子社保卡"),
        ("5", "register", "社会保险登记"),
        ("9", "language", "English"),
    ],
)
def test_each_main_menu_key_leads_to_its_service(menu: Menu, key: str, node: str, words: str) -> None:
    call = Call(menu).press(key)
    assert call.node == node
    assert words in call.last_heard


def test_zero_reaches_the_agent_in_office_hours(menu: Menu) -> None:
    call = Call(menu, services()).press("0")
    assert isinstance(call.actions[-1], Transfer)
    assert call.actions[-1].to == "agent"
    call.transfer_ends("completed")
    assert call.ended


def test_agent_busy_offers_voicemail_which_is_saved(menu: Menu) -> None:
    saved: list[Mapping[str, str | None]] = []

    def save(args: Mapping[str, str | None]) -> str:
        saved.append(args)
        return "saved"

    call = Call(menu, {"agent.hours": "open", "voicemail.save": save}, caller="+8613912345678")
    call.press("0").transfer_ends("busy")
    assert "留言请按1" in call.last_heard
    call.press("1").record(14, url="https://example.invalid/rec.wav")
    assert saved == [
        {"recording_url": "https://example.invalid/rec.wav", "recording_seconds": "14", "caller": "+8613912345678"}
    ]
    assert call.ended and isinstance(call.actions[-1], Hangup)


def test_out_of_hours_announces_hours_and_offers_voicemail(menu: Menu) -> None:
    call = Call(menu, services(agent_hours="closed")).press("0")
    assert "8:30" in call.last_heard and "17:30" in call.last_heard
    call.press("1")
    assert call.state.awaiting == "recording"


def test_activation_happy_path_reads_back_the_id_and_masks_passwords(menu: Menu) -> None:
    seen: list[Mapping[str, str | None]] = []

    def activate(args: Mapping[str, str | None]) -> str:
        seen.append(args)
        return "activated"

    call = Call(menu, {"card.activate": activate})
    call.press("1")
    gather = call.gather
    assert gather is not None and gather.max_digits == 18 and gather.finish_key == "#"
    call.press(ID)
    assert "1 1 0 1 0 1 1 9 9 0 0 3 0 7 4 2 5 8" in call.last_heard
    call.press("1")  # confirm
    assert call.gather is not None and call.gather.masked
    call.press("654321").press("864209")
    assert call.node == "activate_new_pin_again"
    call.press("864209")
    assert seen == [{"id_number": ID, "pin": "654321", "new_pin": "864209"}]
    assert call.node == "activate_ok"
    # Passwords are gone from the call's state once the service has used them.
    assert "pin" not in call.state.vars and "new_pin" not in call.state.vars
    assert "******" in "\n".join(t.what for t in call.transcript if t.who == "caller")
    assert "654321" not in "\n".join(t.what for t in call.transcript)


def test_id_ending_in_x_is_keyed_with_star(menu: Menu) -> None:
    call = Call(menu).press("1").press(ID_X[:-1] + "*")
    assert call.state.awaiting == "confirm"
    assert call.state.vars["id_number"] == ID_X
    assert "X" in call.last_heard


def test_bad_check_digit_is_refused_then_reentry_after_confirm_2(menu: Menu) -> None:
    call = Call(menu).press("1").press(ID[:-1] + "9")
    assert call.node == "activate_id" and call.state.invalid == 1
    assert call.state.awaiting == "digits"
    call.press(ID).press("2")  # re-enter
    assert call.state.awaiting == "digits" and "id_number" not in call.state.vars
    call.press(ID).press("1")
    assert call.node == "activate_pin"


@pytest.mark.parametrize("weak", ["000000", "123456", ID[-6:]])
def test_trivial_new_passwords_are_refused(menu: Menu, weak: str) -> None:
    call = Call(menu).press("1").press(ID).press("1").press("654321").press(weak)
    assert call.node == "activate_new_pin" and call.state.invalid == 1
    assert "000000" in call.last_heard


def test_new_passwords_that_differ_start_the_pair_again(menu: Menu) -> None:
    call = Call(menu, services(card_activate="activated"))
    call.press("1").press(ID).press("1").press("654321").press("864209").press("864200")
    assert "不一致" in call.last_heard
    assert call.node == "activate_new_pin" and "new_pin_again" not in call.state.vars
    call.press("135790").press("135790")
    assert call.node == "activate_ok"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [("not_found", "未查询到"), ("already_active", "已经激活"), ("locked", "锁定")],
)
def test_activation_failures_are_explained(menu: Menu, outcome: str, words: str) -> None:
    call = Call(menu, services(card_activate=outcome))
    call.press("1").press(ID).press("1").press("654321").press("864209").press("864209")
    assert words in call.heard


def test_wrong_password_tells_attempts_left_and_asks_again(menu: Menu) -> None:
    result = ServiceDone("wrong_password", {"attempts_left": "4"})
    call = Call(menu, services(card_activate=result))
    call.press("1").press(ID).press("1").press("654321").press("864209").press("864209")
    assert "4" in call.last_heard
    assert call.node == "activate_pin"


def test_loss_report_reads_reference_digit_by_digit_and_the_three_rules(menu: Menu) -> None:
    result = ServiceDone("reported", {"reference": "20261122001", "expires_on": "2026-12-14"})
    call = Call(menu, services(card_report_loss=result))
    call.press("2").press("1").press(ID).press("1").press("864209")
    heard = call.last_heard
    assert "2 0 2 6 1 1 2 2 0 0 1" in heard
    assert "2026年12月14日" in heard
    assert "临时" in heard and "15个工作日" in heard and "正式挂失" in heard


def test_loss_report_needs_a_changed_password(menu: Menu) -> None:
    call = Call(menu, services(card_report_loss="initial_password"))
    call.press("2").press("1").press(ID).press("1").press("654321")
    assert "初始" in call.last_heard
    call.press("0")
    assert isinstance(call.actions[-1], Transfer)


def test_replacement_information_comes_from_the_seeds(menu: Menu) -> None:
    call = Call(menu).press("2").press("2")
    assert "预挂失" in call.heard or "挂失" in call.heard
    assert "15个工作日" in call.heard


@pytest.mark.parametrize(
    ("result", "words"),
    [
        (ServiceDone("not_activated"), "未激活"),
        (ServiceDone("active"), "正常"),
        (ServiceDone("reported_lost", {"until": "2026-12-14"}), "2026年12月14日"),
        (ServiceDone("replacing", {"ready_on": "2027-01-05"}), "2027年1月5日"),
    ],
)
def test_status_is_read_out(menu: Menu, result: ServiceDone, words: str) -> None:
    call = Call(menu, services(card_status=result)).press("3").press(ID).press("1").press("864209")
    assert words in call.last_heard


def test_ecard_and_registration_information(menu: Menu) -> None:
    call = Call(menu).press("4").press("1")
    assert "电子社保卡" in call.last_heard
    call.press("#").press("2")
    assert "支付宝" in call.last_heard
    call = Call(menu).press("5").press("1")
    assert "30日" in call.last_heard
    call.press("#").press("2")
    assert "姓名" in call.last_heard


def test_language_switch_to_english_changes_every_later_prompt(menu: Menu) -> None:
    call = Call(menu).press("9").press("2")
    assert call.state.language == "en-US"
    assert "To activate a card, press 1" in call.last_heard
    call.press("4")
    assert "press 1" in call.last_heard and "请按" not in call.last_heard
    call.press("#").press("9").press("1")
    assert "欢迎" in call.last_heard


def test_call_can_start_in_english(menu: Menu) -> None:
    assert "Welcome" in Call(menu, language="en-US").heard


def test_star_repeats_the_full_prompt_and_hash_goes_back(menu: Menu) -> None:
    call = Call(menu).press("4")
    first = call.last_heard
    call.press("*")
    assert call.last_heard == first and call.node == "ecard"
    call.press("#")
    assert call.node == "main"
    # A return visit to the main menu gets the short prompt, without the welcome.
    assert "欢迎" not in call.last_heard and "请按1" in call.last_heard


def test_silence_reprompts_then_escalates_to_the_agent(menu: Menu) -> None:
    call = Call(menu, services())
    call.silence()
    assert "没有收到" in call.last_heard and call.node == "main"
    call.silence()
    assert call.node == "main" and call.state.no_input == 2
    call.silence()
    assert isinstance(call.actions[-1], Transfer)


def test_wrong_keys_reprompt_then_escalate_to_the_agent(menu: Menu) -> None:
    call = Call(menu, services())
    call.press("7")
    assert "有误" in call.last_heard
    call.press("8")
    assert call.state.invalid == 2
    call.press("6")
    assert isinstance(call.actions[-1], Transfer)


def test_silence_and_wrong_keys_are_counted_separately(menu: Menu) -> None:
    call = Call(menu, services()).silence().press("7").silence().press("8")
    assert call.node == "main"
    assert (call.state.no_input, call.state.invalid) == (2, 2)


def test_service_down_gets_a_polite_goodbye(menu: Menu) -> None:
    call = Call(menu, {}).press("3").press(ID).press("1").press("864209")
    assert "暂时" in call.last_heard
    assert call.ended


def test_engine_state_survives_a_store_between_every_step(engine: Engine) -> None:
    """Any worker can continue a call from its stored JSON."""
    from ivr.engine import CallStarted, Digits, ServiceDone
    from ivr.engine.state import CallState

    step = engine.start(CallStarted(caller="+861"))
    for event in [Digits("1"), Digits(ID), Digits("1"), Digits("654321"), Digits("864209"), Digits("864209")]:
        state = CallState.from_json(step.state.to_json())
        step = engine.send(state, event)
    assert isinstance(step.actions[-1], Invoke)
    state = CallState.from_json(step.state.to_json())
    step = engine.send(state, ServiceDone("activated"))
    assert step.state.node == "activate_ok"
