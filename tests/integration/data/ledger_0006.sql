-- The ledger as release 5c0b083 (schema 0006) booked it: written by make_ledger_0006.py
--
-- PostgreSQL database dump
--


-- Dumped from database version 18.4
-- Dumped by pg_dump version 18.4

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: access_log; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: approval_decisions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (1, 'prev', '2026-Q1', 1, 'manager', 'mgr-1', true, 'manager ok', '2026-12-01 23:29:07.643001+00');
INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (2, 'prev', '2026-Q1', 1, 'comp_admin', 'cadmin-1', true, 'comp_admin ok', '2026-12-01 23:29:07.695745+00');
INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (3, 'prev', '2026-Q1', 1, 'finance', 'fin-1', true, 'finance ok', '2026-12-01 23:29:07.720145+00');
INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (4, 'prevpaid', '2026-Q1', 1, 'manager', 'mgr-1', true, 'manager ok', '2026-12-01 23:29:07.938272+00');
INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (5, 'prevpaid', '2026-Q1', 1, 'comp_admin', 'cadmin-1', true, 'comp_admin ok', '2026-12-01 23:29:07.97315+00');
INSERT INTO public.approval_decisions (decision_id, scope, period, approval_round, step, actor_id, approved, comment, created_at) VALUES (6, 'prevpaid', '2026-Q1', 1, 'finance', 'fin-1', true, 'finance ok', '2026-12-01 23:29:08.006857+00');


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (1, '2026-12-01 23:29:07.364528+00', 'ledger', 'lineage.adopt', 'lineage/calc/2026/1', '{"reason": "the first lineage of a ledger without history", "lineage": "calc/2026/1", "previous": null, "automatic": true}', '0000000000000000000000000000000000000000000000000000000000000000', '1325e9a559eabac716029140315cba171ee103f0b6ec29c76cdfae3551bd31ee');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (2, '2026-12-01 23:29:07.436528+00', 'ledger', 'plan.version_applied', 'plan/prev/v1', '{"plan_id": "prev", "plan_version": 1}', '1325e9a559eabac716029140315cba171ee103f0b6ec29c76cdfae3551bd31ee', '1645c4a9c3d2bb1d55e8dd6f0e5086b238f0d0a40ea3879303db69096a918db0');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (3, '2026-12-01 23:29:07.441001+00', 'ledger', 'plan.version_applied', 'plan/prevdraw/v1', '{"plan_id": "prevdraw", "plan_version": 1}', '1645c4a9c3d2bb1d55e8dd6f0e5086b238f0d0a40ea3879303db69096a918db0', 'ffbb410560acd8d261c45cdb0ff64c7f8e0b3377e2a42c251dc2ca63385e53c4');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (4, '2026-12-01 23:29:07.532057+00', 'admin-1', 'period.close_draws', 'period/prevdraw/2026-Q1', '{"draws": [{"amount": "170000.00", "rep_id": "d3", "currency": "INR", "idempotency_key": "draw:d3:2026-Q1:draw:close@0"}], "scope": "prevdraw", "period": "2026-Q1"}', 'ffbb410560acd8d261c45cdb0ff64c7f8e0b3377e2a42c251dc2ca63385e53c4', 'e1bbf83a1d53714bb02440d235d90a727d972be1053639cb58db41b172f5526b');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (5, '2026-12-01 23:29:07.539186+00', 'admin-1', 'period.lock', 'period/prevdraw/2026-Q1', '{"to": "locked", "from": "open", "scope": "prevdraw", "period": "2026-Q1"}', 'e1bbf83a1d53714bb02440d235d90a727d972be1053639cb58db41b172f5526b', '639090ed1553427ce079f689b8b3397cad384a56620852360e00d25c01c32322');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (6, '2026-12-01 23:29:07.614506+00', 'admin-1', 'entry.manual', 'entry/17', '{"scope": "prevpaid", "amount": "2500.00", "period": "2026-Q1", "reason": "launch spiff", "rep_id": "p1", "currency": "INR", "component_id": "spiff"}', '639090ed1553427ce079f689b8b3397cad384a56620852360e00d25c01c32322', '6eb747547b1e79027f6bdc4f0bfbcea7fbc4f2649a93ff065fd05580765603ee');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (7, '2026-12-01 23:29:07.629066+00', 'admin-1', 'entry.clawback', 'entry/18', '{"scope": "prev", "amount": "-1000.00", "period": "2026-Q2", "reason": "deal cancelled after payout", "rep_id": "u3", "currency": "INR", "component_id": "commission"}', '6eb747547b1e79027f6bdc4f0bfbcea7fbc4f2649a93ff065fd05580765603ee', '4932ce8c924675fdaaba34abdb49113c5d1923cede30f7e81ca30385bf839930');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (8, '2026-12-01 23:29:07.640508+00', 'admin-1', 'period.lock', 'period/prev/2026-Q1', '{"to": "locked", "from": "open", "scope": "prev", "period": "2026-Q1"}', '4932ce8c924675fdaaba34abdb49113c5d1923cede30f7e81ca30385bf839930', 'c1313d55d4c6d89a601392b8553dc3c2995d3c567d25648bcf2b34f64cd1fcc5');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (9, '2026-12-01 23:29:07.690676+00', 'mgr-1', 'approval.approve', 'period/prev/2026-Q1', '{"step": "manager", "round": 1, "scope": "prev", "period": "2026-Q1", "comment": "manager ok"}', 'c1313d55d4c6d89a601392b8553dc3c2995d3c567d25648bcf2b34f64cd1fcc5', 'dfd8f788cd46a519ae66f495de1b2babe1af5d383292cce4301e16af2bf8de31');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (10, '2026-12-01 23:29:07.716399+00', 'cadmin-1', 'approval.approve', 'period/prev/2026-Q1', '{"step": "comp_admin", "round": 1, "scope": "prev", "period": "2026-Q1", "comment": "comp_admin ok"}', 'dfd8f788cd46a519ae66f495de1b2babe1af5d383292cce4301e16af2bf8de31', 'f929754f69288eb8354d351d79d824b972e885b7fd669fdd752fcabf2acb163b');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (11, '2026-12-01 23:29:07.729907+00', 'fin-1', 'approval.approve', 'period/prev/2026-Q1', '{"step": "finance", "round": 1, "scope": "prev", "period": "2026-Q1", "comment": "finance ok"}', 'f929754f69288eb8354d351d79d824b972e885b7fd669fdd752fcabf2acb163b', '7ce8b715525b9bb5a40093b47284a83c5b2a1fc3d13468aef47ac32b8410d74b');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (12, '2026-12-01 23:29:07.737528+00', 'fin-1', 'period.approve', 'period/prev/2026-Q1', '{"to": "approved", "from": "locked", "scope": "prev", "period": "2026-Q1"}', '7ce8b715525b9bb5a40093b47284a83c5b2a1fc3d13468aef47ac32b8410d74b', 'be159c80c141b3ca0bb71df5789f25c5ffe16fab053edef7e08b9590444ea4ba');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (13, '2026-12-01 23:29:07.916245+00', 'fin-1', 'payouts.prepared', 'period/prev/2026-Q1', '{"lines": 3, "scope": "prev", "period": "2026-Q1", "payout_ids": ["prev/2026-Q1/u1/INR", "prev/2026-Q1/u2/INR", "prev/2026-Q1/u3/INR"]}', 'be159c80c141b3ca0bb71df5789f25c5ffe16fab053edef7e08b9590444ea4ba', 'f1b91594ebabf774f5863db20475b9504bcf12e2be7603b34728c63a343bfd96');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (14, '2026-12-01 23:29:07.931597+00', 'admin-1', 'period.lock', 'period/prevpaid/2026-Q1', '{"to": "locked", "from": "open", "scope": "prevpaid", "period": "2026-Q1"}', 'f1b91594ebabf774f5863db20475b9504bcf12e2be7603b34728c63a343bfd96', '97c5a69ad86003d096aa7371a7bf70254652385599a8279f7f45615224afd1ec');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (15, '2026-12-01 23:29:07.953108+00', 'mgr-1', 'approval.approve', 'period/prevpaid/2026-Q1', '{"step": "manager", "round": 1, "scope": "prevpaid", "period": "2026-Q1", "comment": "manager ok"}', '97c5a69ad86003d096aa7371a7bf70254652385599a8279f7f45615224afd1ec', '06b28caa647d56c075a447c27e9cc3ce63ed173591d20a14485d84330f79746c');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (16, '2026-12-01 23:29:07.994773+00', 'cadmin-1', 'approval.approve', 'period/prevpaid/2026-Q1', '{"step": "comp_admin", "round": 1, "scope": "prevpaid", "period": "2026-Q1", "comment": "comp_admin ok"}', '06b28caa647d56c075a447c27e9cc3ce63ed173591d20a14485d84330f79746c', 'fc7a2b2210f839bd89ea9cf663c38b2692186f194353a0a06b631b8425a93afa');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (17, '2026-12-01 23:29:08.021219+00', 'fin-1', 'approval.approve', 'period/prevpaid/2026-Q1', '{"step": "finance", "round": 1, "scope": "prevpaid", "period": "2026-Q1", "comment": "finance ok"}', 'fc7a2b2210f839bd89ea9cf663c38b2692186f194353a0a06b631b8425a93afa', '77fce344b730f5ec2e8a8826f200e8686152bcdbab2a61cd0162942d89a25886');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (18, '2026-12-01 23:29:08.027203+00', 'fin-1', 'period.approve', 'period/prevpaid/2026-Q1', '{"to": "approved", "from": "locked", "scope": "prevpaid", "period": "2026-Q1"}', '77fce344b730f5ec2e8a8826f200e8686152bcdbab2a61cd0162942d89a25886', 'a0c4fc5cafd137e9ed5def1e94ef016077f1c180162b6c5044cd0171f98f9638');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (19, '2026-12-01 23:29:08.041227+00', 'fin-1', 'payouts.prepared', 'period/prevpaid/2026-Q1', '{"lines": 1, "scope": "prevpaid", "period": "2026-Q1", "payout_ids": ["prevpaid/2026-Q1/p1/INR"]}', 'a0c4fc5cafd137e9ed5def1e94ef016077f1c180162b6c5044cd0171f98f9638', '4a908cbfb785009e6591ff0d7745efea6e527294879eeabed3f2e78ee4ae3c83');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (20, '2026-12-01 23:29:08.053397+00', 'payroll-1', 'period.pay', 'period/prevpaid/2026-Q1', '{"to": "paid", "from": "approved", "scope": "prevpaid", "period": "2026-Q1"}', '4a908cbfb785009e6591ff0d7745efea6e527294879eeabed3f2e78ee4ae3c83', 'e19b0a4b662596ee15c5f8b702b6b0c870bb36461b84eeccda1f76a4ecb1b021');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (21, '2026-12-01 23:29:08.164624+00', 'u1', 'dispute.raised', 'dispute/1', '{"comment": "a deal is missing", "entry_id": 5}', 'e19b0a4b662596ee15c5f8b702b6b0c870bb36461b84eeccda1f76a4ecb1b021', '9589575b4ab2e6bfa39ce46f2085e712408122440e622f55870cdc24a3945003');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (22, '2026-12-01 23:29:08.202962+00', 'cadmin-1', 'dispute.rejected', 'dispute/1', '{"comment": "the deal closed in April", "adjustment_entry_id": null}', '9589575b4ab2e6bfa39ce46f2085e712408122440e622f55870cdc24a3945003', '1eddda9a9117ac5c8b0aa32de08014c2b737d4428f5410a232ad62ec070e0387');
INSERT INTO public.audit_log (sequence, occurred_at, actor_id, action, subject, details, previous_hash, record_hash) VALUES (23, '2026-12-01 23:29:08.222343+00', 'u1', 'dispute.raised', 'dispute/2', '{"comment": "the rate looks low", "entry_id": 15}', '1eddda9a9117ac5c8b0aa32de08014c2b737d4428f5410a232ad62ec070e0387', 'b2435e4f6833a5a90063370f470e837df323c10da5b0acf4e577a47b99c50727');


--
-- Data for Name: ledger_entries; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (1, 'd1', '2026-Q1', 'prevdraw', 1, 'commission', 'earned', 142344.010000, 'INR', 1, 'earned:d1:2026-Q1:commission:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prevdraw', NULL, NULL, '87710ebb370a90528e98c5b7ed4fed1319879c551662c32b17ff67723708876f');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (2, 'd1', '2026-Q1', 'prevdraw', 1, 'draw', 'draw', 27655.990000, 'INR', 1, 'draw:d1:2026-Q1:draw:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prevdraw', NULL, 'recoverable draw paid as of snapshot v1', '273632364ce15b671b0854f6e928bc776e6288b12ce5fb5e7468fc3ff41ccfd6');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (3, 'd2', '2026-Q1', 'prevdraw', 1, 'commission', 'earned', 163502.570000, 'INR', 1, 'earned:d2:2026-Q1:commission:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prevdraw', NULL, NULL, '1bd822f6ad0680da716760615b7f3382036f62d43051765747c519feebcce97a');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (4, 'd2', '2026-Q1', 'prevdraw', 1, 'draw', 'draw', 6497.430000, 'INR', 1, 'draw:d2:2026-Q1:draw:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prevdraw', NULL, 'recoverable draw paid as of snapshot v1', '6f9d3b6149a5dcb0362509744318f3427d01d3741066645dc83cd08de17fe0f0');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (5, 'u1', '2026-Q1', 'prev', 1, 'commission', 'earned', 33377.980000, 'INR', 1, 'earned:u1:2026-Q1:commission:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prev', NULL, NULL, 'a1766c61b60f93a0651a96561f3207f17f9f851134a0019bd40d34521184edc2');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (6, 'u2', '2026-Q1', 'prev', 1, 'commission', 'earned', 142141.250000, 'INR', 1, 'earned:u2:2026-Q1:commission:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prev', NULL, NULL, '6cf9caee68a64668f35b357310e385f05fb9e7bf2b872f3f4a9b3dc1c0658557');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (7, 'u3', '2026-Q1', 'prev', 1, 'commission', 'earned', 367969.000000, 'INR', 1, 'earned:u3:2026-Q1:commission:1', '["gen-1"]', '2026-12-01 23:29:07.349023+00', NULL, 'prev', NULL, NULL, 'a86943c10cd11b1a12acc85bf4eb061fde1b559c52f2ca7d59b76325dadc986d');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (8, 'd3', '2026-Q1', 'prevdraw', 1, 'draw', 'draw', 170000.000000, 'INR', 0, 'draw:d3:2026-Q1:draw:close@0', '[]', '2026-12-01 23:29:07.445241+00', NULL, 'prevdraw', NULL, 'recoverable draw paid as of period close, without credits', '13fded70b38d718fb879a926cfd337d6430eb77400236409f3852de2a46cb8af');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (9, 'd1', '2026-Q2', 'prevdraw', 1, 'commission', 'adjustment', 16253.930000, 'INR', 2, 'adjustment:d1:2026-Q1:commission:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', '2026-Q1', 'prevdraw', NULL, 'prior-period adjustment: 2026-Q1 was closed when snapshot v2 arrived', 'b1bdc8abe6b581379ad76172f917f3a50709cc9c567d41e854732cb40879a0c0');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (10, 'd1', '2026-Q2', 'prevdraw', 1, 'draw', 'draw', -16253.930000, 'INR', 2, 'draw:d1:2026-Q1:draw:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', '2026-Q1', 'prevdraw', NULL, 'recoverable draw paid as of snapshot v2, for 2026-Q1 (closed when it arrived)', '7646dfab5fb6fb8bacda91e21d20f1030b29425b1d7a465d72f219cb26047fa1');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (11, 'd1', '2026-Q2', 'prevdraw', 1, 'commission', 'earned', 311301.790000, 'INR', 2, 'earned:d1:2026-Q2:commission:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', NULL, 'prevdraw', NULL, NULL, '9c4f4e956187f72c9af68d27311a952212d139a3d4c969b4b71e4fad8a4d0f00');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (12, 'd1', '2026-Q2', 'prevdraw', 1, 'draw', 'draw_recovery', -11402.060000, 'INR', 2, 'draw_recovery:d1:2026-Q2:draw:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', NULL, 'prevdraw', NULL, 'recoverable draw recovered from earnings as of snapshot v2', '2fab697806bcf67f169f9fb591487ff2f98ca4c317ba0b068698d49b096ec4a1');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (13, 'd2', '2026-Q2', 'prevdraw', 1, 'commission', 'adjustment', 17704.090000, 'INR', 2, 'adjustment:d2:2026-Q1:commission:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', '2026-Q1', 'prevdraw', NULL, 'prior-period adjustment: 2026-Q1 was closed when snapshot v2 arrived', '0df3a958db8853274ece769ec914716db85cef2625c38c1322d646e3f49e92ca');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (14, 'd2', '2026-Q2', 'prevdraw', 1, 'draw', 'draw', -6497.430000, 'INR', 2, 'draw:d2:2026-Q1:draw:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', '2026-Q1', 'prevdraw', NULL, 'draw (not recoverable) paid as of snapshot v2, for 2026-Q1 (closed when it arrived)', '313a470a46b6d5bf9f23bf36683ea5263809dc1aa1e0357ae7fa1447e18ee68d');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (15, 'u1', '2026-Q1', 'prev', 1, 'commission', 'earned', 165269.120000, 'INR', 2, 'earned:u1:2026-Q1:commission:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', NULL, 'prev', NULL, NULL, 'e5b95175fb6b71f3d8e251bfc5df8593389878fdbbc7a5967763fd78fc66c230');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (16, 'u2', '2026-Q1', 'prev', 1, 'commission', 'earned', 5766.380000, 'INR', 2, 'earned:u2:2026-Q1:commission:2', '["gen-2"]', '2026-12-01 23:29:07.553746+00', NULL, 'prev', NULL, NULL, '220ac484bd5c9efab9bb651f59dc9eea6d72bd9167a1ccc31336de7ff63851fc');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (17, 'p1', '2026-Q1', '', 0, 'spiff', 'manual', 2500.000000, 'INR', 0, 'manual:p1:spiff', '[]', '2026-12-01 23:29:07.600922+00', NULL, 'prevpaid', 'admin-1', 'launch spiff', 'a73dac97f036c0f794f0a129797523a1c7f4fd827e3ed22e94c87cf34f697ab1');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (18, 'u3', '2026-Q2', '', 0, 'commission', 'clawback', -1000.000000, 'INR', 0, 'manual:u3:clawback', '[]', '2026-12-01 23:29:07.61924+00', NULL, 'prev', 'admin-1', 'deal cancelled after payout', 'e17855b2f796f115dd17154a216bd5ce99f81e84be0c629d135854a3bd6fdd2b');
INSERT INTO public.ledger_entries (entry_id, rep_id, period, plan_id, plan_version, component_id, kind, amount, currency, snapshot_version, idempotency_key, source_event_ids, created_at, corrects_period, scope, created_by, explanation, input_hash) VALUES (19, 'p1', '2026-Q1', '', 0, 'payment', 'payment', -2500.000000, 'INR', 0, 'payment:prevpaid/2026-Q1/p1/INR', '[]', '2026-12-01 23:29:08.049285+00', NULL, 'prevpaid', 'payroll-1', 'paid by payroll as prevpaid/2026-Q1/p1/INR', '1ce132785be5e4e53ccb4a27cda96d6b645014b6671b3f0f9034d0cb83f73dac');


--
-- Data for Name: disputes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.disputes (dispute_id, entry_id, rep_id, status, created_at) VALUES (1, 5, 'u1', 'rejected', '2026-12-01 23:29:08.129827+00');
INSERT INTO public.disputes (dispute_id, entry_id, rep_id, status, created_at) VALUES (2, 15, 'u1', 'open', '2026-12-01 23:29:08.212032+00');


--
-- Data for Name: dispute_events; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.dispute_events (event_id, dispute_id, actor_id, action, comment, adjustment_entry_id, created_at) VALUES (1, 1, 'u1', 'raised', 'a deal is missing', NULL, '2026-12-01 23:29:08.129827+00');
INSERT INTO public.dispute_events (event_id, dispute_id, actor_id, action, comment, adjustment_entry_id, created_at) VALUES (2, 1, 'cadmin-1', 'rejected', 'the deal closed in April', NULL, '2026-12-01 23:29:08.177812+00');
INSERT INTO public.dispute_events (event_id, dispute_id, actor_id, action, comment, adjustment_entry_id, created_at) VALUES (3, 2, 'u1', 'raised', 'the rate looks low', NULL, '2026-12-01 23:29:08.212032+00');


--
-- Data for Name: ledger_lineages; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ledger_lineages (lineage, state, adopted_at, adopted_by, retired_at) VALUES ('calc/2026/1', 'adopted', '2026-12-01 23:29:07.349023+00', 'ledger', NULL);


--
-- Data for Name: outbox; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (1, 'payouts', 'prev/2026-Q1/u1/INR', '\xc3013e6d3e4a420ce81d26707265762f323032362d51312f75312f494e520475310e323032362d513106494e52123139383634372e313004b4a286bfc6680a66696e2d31000208434f4d4d123139383634372e31300400', '2026-12-01 23:29:07.720145+00', NULL);
INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (2, 'payouts', 'prev/2026-Q1/u2/INR', '\xc3013e6d3e4a420ce81d26707265762f323032362d51312f75322f494e520475320e323032362d513106494e52123134373930372e363304b4a286bfc6680a66696e2d31000208434f4d4d123134373930372e36330400', '2026-12-01 23:29:07.720145+00', NULL);
INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (3, 'payouts', 'prev/2026-Q1/u3/INR', '\xc3013e6d3e4a420ce81d26707265762f323032362d51312f75332f494e520475330e323032362d513106494e52123336373936392e303002b4a286bfc6680a66696e2d31000208434f4d4d123336373936392e30300200', '2026-12-01 23:29:07.720145+00', NULL);
INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (4, 'payouts.control', 'prev/2026-Q1/control', '\xc30100df74b07d5fc3d628707265762f323032362d51312f636f6e74726f6c08707265760e323032362d5131060206494e5206123731343532332e373300b4a286bfc6680a66696e2d31', '2026-12-01 23:29:07.720145+00', NULL);
INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (5, 'payouts', 'prevpaid/2026-Q1/p1/INR', '\xc3013e6d3e4a420ce81d2e70726576706169642f323032362d51312f70312f494e520470310e323032362d513106494e520e323530302e303002faa686bfc6680a66696e2d31000208434f4d4d0e323530302e30300200', '2026-12-01 23:29:08.006857+00', NULL);
INSERT INTO public.outbox (outbox_id, topic, message_key, payload, created_at, published_at) VALUES (6, 'payouts.control', 'prevpaid/2026-Q1/control', '\xc30100df74b07d5fc3d63070726576706169642f323032362d51312f636f6e74726f6c1070726576706169640e323032362d5131020206494e52020e323530302e303000faa686bfc6680a66696e2d31', '2026-12-01 23:29:08.006857+00', NULL);


--
-- Data for Name: participants; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: payout_lines; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.payout_lines (payout_id, scope, period, rep_id, currency, amount, entry_count, approved_at, approved_by, hr_id, earnings) VALUES ('prev/2026-Q1/u1/INR', 'prev', '2026-Q1', 'u1', 'INR', 198647.100000, 2, '2026-12-01 23:29:07.73819+00', 'fin-1', NULL, '[{"amount": "198647.10", "entry_count": 2, "earning_code": "COMM"}]');
INSERT INTO public.payout_lines (payout_id, scope, period, rep_id, currency, amount, entry_count, approved_at, approved_by, hr_id, earnings) VALUES ('prev/2026-Q1/u2/INR', 'prev', '2026-Q1', 'u2', 'INR', 147907.630000, 2, '2026-12-01 23:29:07.73819+00', 'fin-1', NULL, '[{"amount": "147907.63", "entry_count": 2, "earning_code": "COMM"}]');
INSERT INTO public.payout_lines (payout_id, scope, period, rep_id, currency, amount, entry_count, approved_at, approved_by, hr_id, earnings) VALUES ('prev/2026-Q1/u3/INR', 'prev', '2026-Q1', 'u3', 'INR', 367969.000000, 1, '2026-12-01 23:29:07.73819+00', 'fin-1', NULL, '[{"amount": "367969.00", "entry_count": 1, "earning_code": "COMM"}]');
INSERT INTO public.payout_lines (payout_id, scope, period, rep_id, currency, amount, entry_count, approved_at, approved_by, hr_id, earnings) VALUES ('prevpaid/2026-Q1/p1/INR', 'prevpaid', '2026-Q1', 'p1', 'INR', 2500.000000, 1, '2026-12-01 23:29:08.029148+00', 'fin-1', NULL, '[{"amount": "2500.00", "entry_count": 1, "earning_code": "COMM"}]');


--
-- Data for Name: periods; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.periods (scope, period, state, prepared_by, approval_round, updated_at) VALUES ('prevdraw', '2026-Q1', 'locked', 'admin-1', 1, '2026-12-01 23:29:07.533789+00');
INSERT INTO public.periods (scope, period, state, prepared_by, approval_round, updated_at) VALUES ('prevdraw', '2026-Q2', 'open', NULL, 0, '2026-12-01 23:29:07.553746+00');
INSERT INTO public.periods (scope, period, state, prepared_by, approval_round, updated_at) VALUES ('prev', '2026-Q1', 'approved', 'admin-1', 1, '2026-12-01 23:29:07.731318+00');
INSERT INTO public.periods (scope, period, state, prepared_by, approval_round, updated_at) VALUES ('prevpaid', '2026-Q1', 'paid', 'admin-1', 1, '2026-12-01 23:29:08.050875+00');


--
-- Data for Name: plan_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.plan_versions (plan_id, plan_version, first_seen_at) VALUES ('prev', 1, '2026-12-01 23:29:07.349023+00');
INSERT INTO public.plan_versions (plan_id, plan_version, first_seen_at) VALUES ('prevdraw', 1, '2026-12-01 23:29:07.349023+00');


--
-- Data for Name: quarantined_snapshots; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.quarantined_snapshots (lineage, rep_id, period, snapshot_version, snapshot, received, first_seen, last_seen, resolution) VALUES ('calc/2026/2', 'd1', '2026-Q1', 3, '{"period": "2026-Q1", "rep_id": "d1", "lineage": "calc/2026/2", "plan_id": "prevdraw", "currency": "INR", "components": [{"kind": null, "quota": null, "component_id": "commission", "earned_amount": "158597.94", "credited_value": "7929897.00", "attainment_ratio": null, "source_record_count": 6}, {"kind": "recoverable_draw", "quota": null, "component_id": "draw", "earned_amount": "11402.06", "credited_value": "0", "attainment_ratio": null, "source_record_count": 0}], "computed_at": 1700000000003, "plan_version": 1, "total_earned": "170000.00", "snapshot_version": 3, "trigger_event_ids": ["gen-3"], "trigger_ingested_at": null}', 1, '2026-12-01 23:29:07.586438+00', '2026-12-01 23:29:07.586438+00', NULL);
INSERT INTO public.quarantined_snapshots (lineage, rep_id, period, snapshot_version, snapshot, received, first_seen, last_seen, resolution) VALUES ('calc/2026/2', 'd1', '2026-Q2', 3, '{"period": "2026-Q2", "rep_id": "d1", "lineage": "calc/2026/2", "plan_id": "prevdraw", "currency": "INR", "components": [{"kind": null, "quota": null, "component_id": "commission", "earned_amount": "311301.79", "credited_value": "15565089.50", "attainment_ratio": null, "source_record_count": 11}, {"kind": "recoverable_draw", "quota": null, "component_id": "draw", "earned_amount": "-11402.06", "credited_value": "0", "attainment_ratio": null, "source_record_count": 0}], "computed_at": 1700000000003, "plan_version": 1, "total_earned": "299899.73", "snapshot_version": 3, "trigger_event_ids": ["gen-3"], "trigger_ingested_at": null}', 1, '2026-12-01 23:29:07.586438+00', '2026-12-01 23:29:07.586438+00', NULL);


--
-- Data for Name: snapshot_heads; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('d1', '2026-Q1', 2, 170000.000000, 'INR', '2026-12-01 23:29:07.553746+00');
INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('d1', '2026-Q2', 2, 299899.730000, 'INR', '2026-12-01 23:29:07.553746+00');
INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('d2', '2026-Q1', 2, 181206.660000, 'INR', '2026-12-01 23:29:07.553746+00');
INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('u1', '2026-Q1', 2, 198647.100000, 'INR', '2026-12-01 23:29:07.553746+00');
INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('u2', '2026-Q1', 2, 147907.630000, 'INR', '2026-12-01 23:29:07.553746+00');
INSERT INTO public.snapshot_heads (rep_id, period, snapshot_version, total_earned, currency, updated_at) VALUES ('u3', '2026-Q1', 2, 367969.000000, 'INR', '2026-12-01 23:29:07.553746+00');


--
-- Name: access_log_access_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.access_log_access_id_seq', 1, false);


--
-- Name: approval_decisions_decision_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.approval_decisions_decision_id_seq', 6, true);


--
-- Name: audit_log_sequence_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.audit_log_sequence_seq', 1, false);


--
-- Name: dispute_events_event_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.dispute_events_event_id_seq', 3, true);


--
-- Name: disputes_dispute_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.disputes_dispute_id_seq', 2, true);


--
-- Name: ledger_entries_entry_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ledger_entries_entry_id_seq', 19, true);


--
-- Name: outbox_outbox_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.outbox_outbox_id_seq', 6, true);


--
-- PostgreSQL database dump complete
--


