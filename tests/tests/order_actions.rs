//! Order actions: the AI cancels an order for a verified shopper — proposed, confirmed with
//! the shopper's own yes, sent exactly once, verified by reading the order back, and on the
//! record. Every scenario runs in memory and on moto (records in DynamoDB).

mod common;

use serde_json::json;
use shared::actions::record::new_action_id;
use shared::actions::repo::ListFilter;
use shared::actions::{self, ActionFailure};
use shared::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId, ShopDomain};
use shared::store::Expect;
use shared::Code;
use std::time::Duration;
use tests::actions::{
    deadline, enable, setup, shopper, us_shop, ActionRig, CONVERSATION, JANE, TOKEN, US,
};
use tests::app::TestApp;
use tests::fake_shopify::{CancelJob, CustomerDataAccess, FakeOrder, FakeShop, Fault};

async fn propose(
    app: &TestApp,
    rig: &ActionRig,
    order: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::propose(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        ActionKind::CancelOrder,
        &json!({"order_number": order, "reason": "ordered the wrong size"}),
    )
    .await
}

async fn confirm(
    app: &TestApp,
    rig: &ActionRig,
    id: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::confirm(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, true),
        id,
        true,
    )
    .await
}

async fn get(app: &TestApp, rig: &ActionRig, id: &str) -> actions::ActionAnswer {
    actions::get(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        id,
    )
    .await
    .unwrap()
}

fn reason(failure: &ActionFailure) -> &str {
    failure.details.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
}

both_backends! {
    async fn an_eligible_order_is_proposed_confirmed_cancelled_refunded_and_restocked_once(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;

        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        assert_eq!(proposal.status, "confirmation_required");
        assert!(proposal.summary.contains("49.90 USD will be refunded to the original card"), "{}", proposal.summary);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0, "a proposal writes nothing");
        assert!(proposal.proposal_id.len() >= 44);

        let done = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(done.status, "done", "{done:?}");
        assert!(done.order.as_ref().unwrap()["cancelled_at"].is_string());
        let order = app.shopify.order(US, "#1001");
        let cancellation = order.cancellation.expect("cancelled at Shopify");
        assert_eq!(cancellation.reason, "CUSTOMER");
        assert!(cancellation.restocked && cancellation.refund_to_original && cancellation.notify_customer);
        assert_eq!(cancellation.refunds, vec![("shopify_payments".to_owned(), "49.90".to_owned())]);
        let note = cancellation.staff_note.unwrap();
        assert!(note.contains(CONVERSATION) && note.contains("ordered the wrong size"), "{note}");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        let page = actions::list(&rig.ports, &deadline(), &OrganizationId::parse(&app.org).unwrap(), &Default::default(), None).await.unwrap();
        assert_eq!(page.actions.len(), 1);
        assert_eq!(page.actions[0].status, ActionStatus::Done);
    }

    async fn a_repeated_confirmation_answers_the_first_outcome_after_the_action_is_turned_off(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
        let org = OrganizationId::parse(&app.org).unwrap();
        let stores = &app.services.storage.stores;
        let mut settings = stores.get_settings(&org).await.unwrap();
        settings.order_actions.cancel_order.enabled = false;
        stores.put_settings(&org, &settings).await.unwrap();

        let again = confirm(&app, &rig, &proposal.proposal_id).await;

        assert_eq!(again.map(|a| a.status).map_err(|f| f.code), Ok("done".to_owned()), "the first outcome, not action_disabled");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        let second = propose(&app, &rig, "#1001").await;
        assert_eq!(second.map(|a| a.status).map_err(|f| f.code), Err(Code::ActionDisabled), "nothing new starts");
    }

    async fn a_bare_number_is_not_proposed_in_another_store_while_its_own_store_fails(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        app.shopify.add_shop(FakeShop::new("demo-uk").with_prefix("UK-").with_order_action_scopes().with_token(TOKEN).with_order(FakeOrder::unfulfilled("UK-1003", 5, JANE)));
        let (status, body) = app.connect(json!({"shop_domain": "demo-uk", "access_token": TOKEN})).await;
        assert_eq!(status, 201, "{body}");
        for _ in 0..4 {
            app.shopify.push_fault(US, Fault::status(500));
        }

        // "1003" routes to the US store; UK-1003 is another order.
        let refused = propose(&app, &rig, "1003").await;

        assert_eq!(refused.map(|a| a.status).map_err(|f| f.code), Err(Code::ShopifyUnavailable));
        let proposed = propose(&app, &rig, "1003").await.unwrap();
        assert!(proposed.summary.contains("UK-1003"), "once the US store answers: {}", proposed.summary);
    }

    async fn each_ineligible_order_is_refused_with_its_reason_and_nothing_is_sent(app: TestApp) {
        let cases = [
            ("#2001", FakeOrder::unfulfilled("#2001", 5, JANE).fulfilled(), "fulfilled"),
            ("#2002", FakeOrder::unfulfilled("#2002", 5, JANE).partly_fulfilled(), "partially_fulfilled"),
            ("#2003", FakeOrder::unfulfilled("#2003", 5, JANE).sent_to_fulfillment_service("SUBMITTED"), "submitted_to_fulfillment_service"),
            ("#2004", FakeOrder::unfulfilled("#2004", 5, JANE).sent_to_fulfillment_service("ACCEPTED"), "submitted_to_fulfillment_service"),
            ("#2005", FakeOrder::unfulfilled("#2005", 5, JANE).with_return("RETURN_REQUESTED"), "return_in_progress"),
            ("#2006", FakeOrder::unfulfilled("#2006", 90, JANE), "outside_window"),
            ("#2007", FakeOrder::unfulfilled("#2007", 5, JANE).cancelled("2026-01-01T00:00:00Z"), "already_cancelled"),
        ];
        let mut shop = FakeShop::new("demo-us").with_order_action_scopes();
        for (_, order, _) in &cases {
            shop = shop.with_order(order.clone());
        }
        shop = shop
            .with_order(FakeOrder::unfulfilled("#2008", 5, "someone@example.com"))
            .with_order(FakeOrder::unfulfilled("#2009", 5, JANE).without_email());
        let rig = setup(&app, shop, ActionMode::Live).await;

        for (name, _, expected) in &cases {
            let refused = propose(&app, &rig, name).await.unwrap_err();
            assert_eq!(refused.code, Code::ActionNotAllowed, "{name}: {refused:?}");
            assert_eq!(reason(&refused), *expected, "{name}");
            if *expected == "fulfilled" {
                assert_eq!(refused.details.as_ref().unwrap()["alternative"], "request_return");
            }
        }
        for name in ["#2008", "#2009"] {
            let refused = propose(&app, &rig, name).await.unwrap_err();
            assert_eq!(refused.code, Code::OrderNotFound, "{name}: another contact's or no email");
        }
        let partial = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false), ActionKind::CancelOrder,
            &json!({"order_number": "#2006", "items": [{"line_item": 1, "quantity": 1}]})).await.unwrap_err();
        assert_eq!(partial.code, Code::ActionNotAllowed);
        let mut unverified = shopper(&app.org, JANE, CONVERSATION, false);
        unverified.email_verified = false;
        let refused = actions::propose(&rig.ports, &deadline(), &unverified, ActionKind::CancelOrder, &json!({"order_number": "#2001"})).await.unwrap_err();
        assert_eq!(refused.code, Code::VerificationRequired);
        for (name, _, _) in &cases {
            assert_eq!(app.shopify.cancel_calls(US, name), 0, "{name}");
        }
        assert!(rig.events.order_actions().is_empty(), "nothing proposed, nothing announced");
    }

    async fn a_store_without_the_write_scope_or_withholding_emails_cannot_take_actions(app: TestApp) {
        let rig = setup(
            &app,
            FakeShop::new("demo-us").with_order_action_scopes().without_scope("write_orders")
                .with_order(FakeOrder::unfulfilled("#1001", 5, JANE)),
            ActionMode::Live,
        )
        .await;
        let refused = propose(&app, &rig, "#1001").await.unwrap_err();
        assert_eq!(refused.code, Code::ActionUnavailable);
        assert_eq!(refused.details.unwrap()["missing"], json!(["write_orders"]));

        app.shopify.add_shop(
            FakeShop::new("demo-private").with_prefix("PD-").with_token(TOKEN).with_order_action_scopes()
                .withholding_customer_data(CustomerDataAccess::Denied)
                .with_order(FakeOrder::unfulfilled("PD-1001", 5, JANE)),
        );
        let (status, body) = app.connect(json!({"shop_domain": "demo-private", "access_token": TOKEN})).await;
        assert_eq!(status, 201, "{body}");
        let refused = propose(&app, &rig, "PD-1001").await.unwrap_err();
        assert_eq!(refused.code, Code::VerificationUnavailable);
        assert_eq!(app.shopify.cancel_calls("demo-private.myshopify.com", "PD-1001"), 0);
    }

    async fn an_order_that_changes_after_the_proposal_is_not_cancelled(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        app.shopify.update_order(US, "#1001", |o| o.line_items[0].2 = 3);

        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed);
        assert_eq!(reason(&refused), "order_changed");
        app.shopify.update_order(US, "#1001", |o| {
            o.fulfillment_orders[0].request_status = "SUBMITTED".into();
            o.fulfillment_orders[0].third_party = true;
        });
        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();
        assert_eq!(reason(&refused), "submitted_to_fulfillment_service");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
    }

    async fn a_proposal_expires_after_ten_minutes_and_needs_the_shoppers_yes(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let unconfirmed = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false), &proposal.proposal_id, false).await.unwrap();
        assert_eq!(unconfirmed.status, "confirmation_required");
        assert_eq!(unconfirmed.proposal_id, proposal.proposal_id);
        for (email, conversation) in [("other@example.com", CONVERSATION), (JANE, "another-conversation")] {
            let stranger = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, email, conversation, true), &proposal.proposal_id, true).await.unwrap_err();
            assert_eq!(stranger.code, Code::ProposalNotFound);
        }
        let other_org = actions::confirm(&rig.ports, &deadline(), &shopper(&app.other_org(), JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap_err();
        assert_eq!(other_org.code, Code::ProposalNotFound);

        rig.clock.advance(chrono::Duration::minutes(11));
        let expired = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(expired.code, Code::ProposalExpired);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "expired"]);
    }

    async fn a_new_proposal_for_the_order_expires_the_open_one(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let first = propose(&app, &rig, "#1001").await.unwrap();
        let second = propose(&app, &rig, "#1001").await.unwrap();

        let refused = confirm(&app, &rig, &first.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ProposalExpired);
        assert_eq!(confirm(&app, &rig, &second.proposal_id).await.unwrap().status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn two_concurrent_confirmations_and_a_retry_send_exactly_one_cancellation(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let (a, b) = tokio::join!(
            confirm(&app, &rig, &proposal.proposal_id),
            confirm(&app, &rig, &proposal.proposal_id)
        );
        let retry = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let statuses = [a.unwrap().status, b.unwrap().status];
        assert!(statuses.contains(&"done".to_owned()), "{statuses:?}");
        assert!(statuses.iter().all(|s| s == "done" || s == "executing"), "{statuses:?}");
        assert_eq!(retry.status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn a_confirmation_whose_recheck_sees_the_order_another_one_cancelled_answers_done(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let reads = sent(&app, "ActionOrder");

        let held = {
            let ports = rig.ports.clone();
            let inv = shopper(&app.org, JANE, CONVERSATION, true);
            let id = proposal.proposal_id.clone();
            tokio::spawn(async move { actions::confirm(&ports, &deadline(), &inv, &id, true).await })
        };
        let waiting = std::time::Instant::now();
        while sent(&app, "ActionOrder") == reads {
            assert!(waiting.elapsed() < Duration::from_secs(20), "the held confirmation reads the order");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
        open.notify_one();
        let late = held.await.unwrap();

        assert_eq!(late.expect("the recorded outcome, not a refusal").status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn a_crash_after_the_mutation_settles_as_done_without_a_second_mutation(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        rig.repo.fail_next(ActionStatus::Done);

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "in_progress", "the outcome was not recorded, so it is not told as done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        let retried = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();
        assert_eq!(retried.status, "executing", "within the lease the record is left alone");
        rig.clock.advance(chrono::Duration::minutes(3));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(report.settled, 1);
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn a_lost_answer_is_read_back_and_never_sent_again(app: TestApp) {
        let mut shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE));
        shop.lose_answer("CancelOrder", tests::fake_shopify::Fault::Status { status: 502, retry_after: None });
        let rig = setup(&app, shop, ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_ne!(answered.status, "done");
        app.shopify.finish_jobs(US);
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn a_job_that_fails_reports_failed_never_done(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_cancel_job(CancelJob::Fails { after_polls: 1 });
        let rig = setup(&app, shop, ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "failed");
        assert_eq!(answered.details.unwrap()["reason"], "cancellation_failed");
        assert!(app.shopify.order(US, "#1001").cancelled_at.is_none());
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "failed");
    }

    async fn an_unfinished_job_is_in_progress_until_the_schedule_reads_it_back(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_cancel_job(CancelJob::Completes { after_polls: 1000 });
        let rig = setup(&app, shop, ActionMode::Live).await;
        let mut ports = rig.ports.clone();
        ports.config.budget = Duration::from_secs(4);
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let answered = actions::confirm(&ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap();

        assert_eq!(answered.status, "in_progress");
        app.shopify.finish_jobs(US);
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "done"]);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn approval_mode_waits_for_a_person_whose_approval_rechecks_the_order(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let waiting = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(waiting.status, "pending_approval");
        assert!(waiting.summary.starts_with("Nothing has changed yet"));
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        app.shopify.update_order(US, "#1001", |o| o.line_items[0].2 = 2);
        let refused = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(reason(&refused), "order_changed");
        app.shopify.update_order(US, "#1001", |o| o.line_items[0].2 = 1);
        let approved = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap();
        assert_eq!(approved.status, ActionStatus::Done);
        assert_eq!(approved.actor, "rep-1");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        let again = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(again.code, Code::ActionNotPending);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "approved", "executing", "done"]);
    }

    async fn an_approval_that_stopped_before_executing_leaves_the_action_pending_for_another(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        rig.repo.fail_next(ActionStatus::Executing);

        let failed = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap_err();

        assert_ne!(failed.code, Code::ActionNotPending, "{failed:?}");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        let stored = rig.ports.actions.get(&org, &proposal.proposal_id).await.unwrap().unwrap();
        assert_eq!(stored.status, ActionStatus::PendingApproval, "still waiting for a person");
        let approved = actions::approve(&rig.ports, &deadline(), &org, "rep-2", &proposal.proposal_id).await.unwrap();
        assert_eq!((approved.status, approved.actor.as_str()), (ActionStatus::Done, "rep-2"));
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "approved", "executing", "done"]);
    }

    async fn a_refund_above_the_threshold_waits_and_a_decline_ends_it(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        enable(&app, ActionMode::Live, Some(("USD", "20.00"))).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        let declined = actions::decline(&rig.ports, &deadline(), &org, "rep-2", &proposal.proposal_id).await.unwrap();

        assert_eq!(declined.status, ActionStatus::Declined);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        let other = OrganizationId::parse(&app.other_org()).unwrap();
        let hidden = actions::approve(&rig.ports, &deadline(), &other, "rep-2", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(hidden.code, Code::ProposalNotFound, "another org sees nothing");
        let page = actions::list(&rig.ports, &deadline(), &other, &Default::default(), None).await.unwrap();
        assert!(page.actions.is_empty());
    }

    async fn simulate_mode_sends_no_mutation(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Simulate).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        let simulated = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(simulated.status, "simulated");
        assert!(simulated.summary.contains("no change was made"));
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert!(app.shopify.order(US, "#1001").cancelled_at.is_none());
    }

    async fn a_hanging_cancellation_answers_in_progress_within_the_budget_never_done(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let mut ports = rig.ports.clone();
        ports.config.budget = Duration::from_secs(3);
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        app.shopify.update_shop(US, |s| s.fail_operation("CancelOrder", Fault::Hang));

        let started = std::time::Instant::now();
        let answered = actions::confirm(&ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true), &proposal.proposal_id, true).await;

        assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
        let answered = answered.expect("the mutation was sent: the answer is where it stands, not a refusal");
        assert_eq!(answered.status, "in_progress", "its answer never came, so it is not told as done");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::InProgress);
        assert_eq!(sent(&app, "CancelOrder"), 1, "sent once, never again");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress");
        assert_eq!(sent(&app, "CancelOrder"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress"]);
    }

    async fn a_hanging_order_read_at_confirmation_refuses_before_anything_starts(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let mut ports = rig.ports.clone();
        ports.config.budget = Duration::from_secs(3);
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        app.shopify.update_shop(US, |s| s.fail_operation("ActionOrder", Fault::Hang));

        let started = std::time::Instant::now();
        let answered = actions::confirm(&ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true), &proposal.proposal_id, true).await;

        assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
        let refused = answered.expect_err("the order could not be re-checked, so nothing started");
        assert_eq!(refused.code, Code::ShopifyUnavailable);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Proposed);
        assert_eq!(sent(&app, "CancelOrder"), 0);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed"]);
    }

    async fn an_announcement_repeated_after_a_failed_clear_keeps_its_event_id(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        rig.repo.fail_next_clear();

        let proposal = propose(&app, &rig, "#1001").await.unwrap();

        assert_eq!(rig.events.order_actions().len(), 1, "the bus took the event");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.outbox.len(), 1, "the clearing write failed");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "proposed");
        let events = rig.events.order_actions();
        assert_eq!(events.len(), 2, "the next flush puts it again");
        assert_eq!(events[1].event_id, events[0].event_id, "with the same id, so consumers drop the repeat");
        assert_eq!(events[1].status, ActionStatus::Proposed);
        assert!(record(&app, &rig, &proposal.proposal_id).await.outbox.is_empty());
        get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(rig.events.order_actions().len(), 2, "once cleared, never again");

        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
        let events = rig.events.order_actions();
        let ids: std::collections::BTreeSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "proposed", "executing", "done"]);
        assert_eq!(ids.len(), 3, "one id per status change");
    }

    async fn an_action_still_unverified_after_a_day_fails_as_unverified_once(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_cancel_job(CancelJob::NeverFinishes);
        let rig = setup(&app, shop, ActionMode::Live).await;
        let mut ports = rig.ports.clone();
        ports.config.budget = Duration::from_secs(3);
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        let answered = actions::confirm(&ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap();
        assert_eq!(answered.status, "in_progress");

        rig.clock.advance(chrono::Duration::hours(23));
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress", "within a day it waits");
        rig.clock.advance(chrono::Duration::hours(2));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();

        assert_eq!(report.settled, 1);
        let failed = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.details.unwrap()["reason"], "unverified");
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "failed"]);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn an_approved_record_left_before_executing_fails_without_sending(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        // An approval written on its own (as records from before the approval was written
        // with the move to `executing` may stand), whose invocation then stopped.
        let pending = record(&app, &rig, &proposal.proposal_id).await;
        let approved = pending.moved(ActionStatus::Approved, "rep-1", rig.clock.now());
        rig.ports.actions.put(&approved, shared::store::Expect::Version(pending.version)).await.unwrap();

        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "approved", "within the lease it is left alone");
        rig.clock.advance(chrono::Duration::minutes(3));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(report.settled, 1);
        let failed = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.details.unwrap()["reason"], "interrupted");
        let again = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(again.code, Code::ActionNotPending);
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0, "nothing was sent, and nothing is");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "approved", "failed"]);
    }

    async fn a_pending_approval_expires_after_the_approval_ttl_once(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let mut ports = rig.ports.clone();
        ports.config.approval_ttl = Duration::from_secs(2 * 3600);
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        let waiting = actions::confirm(&ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap();
        assert_eq!(waiting.status, "pending_approval");
        let expires_at = waiting.expires_at.unwrap();
        assert!(expires_at > rig.clock.now() + chrono::Duration::minutes(119) && expires_at <= rig.clock.now() + chrono::Duration::hours(2));

        rig.clock.advance(chrono::Duration::minutes(110));
        actions::settle_unsettled(&ports, &deadline()).await.unwrap();
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::PendingApproval);
        rig.clock.advance(chrono::Duration::minutes(11));
        let report = actions::settle_unsettled(&ports, &deadline()).await.unwrap();

        assert_eq!(report.settled, 1);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Expired);
        actions::settle_unsettled(&ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "expired");
        let late = actions::approve(&ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(late.code, Code::ActionNotPending);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "expired"]);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
    }

    async fn the_actions_list_pages_newest_first_and_filters_by_status_shop_and_order(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        let template = record(&app, &rig, &proposal.proposal_id).await;
        let uk = ShopDomain::parse("demo-uk.myshopify.com").unwrap();
        let statuses = [ActionStatus::Done, ActionStatus::Failed, ActionStatus::Declined, ActionStatus::Simulated];
        let mut records = vec![template.clone()];
        for i in 0..60u32 {
            rig.clock.advance(chrono::Duration::seconds(1));
            let now = rig.clock.now();
            let mut r = template.clone();
            r.action_id = new_action_id(now);
            r.created_at = now;
            r.updated_at = now;
            r.status = statuses[i as usize % statuses.len()];
            if i % 3 == 0 {
                r.shop_domain = uk.clone();
            }
            r.order_name = format!("#{}", 3000 + i % 5);
            r.order_id = format!("gid://shopify/Order/{}", 3000 + i % 5);
            rig.ports.actions.put(&r, Expect::Absent).await.unwrap();
            records.push(r);
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.created_at));

        let (all, pages) = walk(&rig, &org, &ListFilter::default()).await;

        assert!(pages >= 3, "{pages} pages");
        let ids: Vec<_> = all.iter().map(|v| v.action_id.clone()).collect();
        let expected: Vec<_> = records.iter().map(|r| r.action_id.clone()).collect();
        assert_eq!(ids, expected, "newest first, every action once");
        let cases = [
            ListFilter { status: Some(ActionStatus::Failed), ..Default::default() },
            ListFilter { shop: Some(uk.clone()), ..Default::default() },
            ListFilter { order: Some("#3002".into()), ..Default::default() },
            ListFilter { order: Some("gid://shopify/Order/3004".into()), status: Some(ActionStatus::Done), shop: Some(uk.clone()) },
        ];
        for filter in cases {
            let (listed, _) = walk(&rig, &org, &filter).await;
            let listed: Vec<_> = listed.iter().map(|v| v.action_id.clone()).collect();
            let expected: Vec<_> = records.iter().filter(|r| filter.admits(r)).map(|r| r.action_id.clone()).collect();
            assert!(!expected.is_empty(), "{filter:?}");
            assert_eq!(listed, expected, "{filter:?}");
        }
        let other = OrganizationId::parse(&app.other_org()).unwrap();
        assert!(walk(&rig, &other, &ListFilter::default()).await.0.is_empty());
        let refused = actions::list(&rig.ports, &deadline(), &org, &ListFilter::default(), Some("not a cursor")).await.unwrap_err();
        assert_eq!(refused.code, Code::InvalidRequest);
    }
}

/// The stored record of `id`.
async fn record(app: &TestApp, rig: &ActionRig, id: &str) -> shared::actions::ActionRecord {
    let org = OrganizationId::parse(&app.org).unwrap();
    rig.ports
        .actions
        .get(&org, id)
        .await
        .unwrap()
        .expect("the record")
}

/// How many requests for `operation` the fake received.
fn sent(app: &TestApp, operation: &str) -> usize {
    app.shopify
        .received()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(operation))
        .count()
}

/// Every page of the list from the first, and how many pages there were.
async fn walk(
    rig: &ActionRig,
    org: &OrganizationId,
    filter: &ListFilter,
) -> (Vec<shared::actions::ActionView>, usize) {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = actions::list(&rig.ports, &deadline(), org, filter, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.actions.len() <= actions::settle::PAGE_SIZE);
        assert!(pages <= 100, "the cursor does not end");
        all.extend(page.actions);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (all, pages),
        }
    }
}

both_backends! {
    async fn a_proposal_left_unconfirmed_is_expired_by_the_schedule_and_announced_once(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        rig.clock.advance(chrono::Duration::minutes(5));
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Proposed, "still confirmable");

        rig.clock.advance(chrono::Duration::minutes(6));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();

        assert_eq!(report.settled, 1);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Expired);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "expired"]);
        let again = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(again.visited, 0, "the mark went with the expiry");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "expired");
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err().code, Code::ProposalExpired);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "expired"], "announced once");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
    }

    async fn the_first_to_read_an_expired_proposal_writes_and_announces_the_expiry(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        rig.clock.advance(chrono::Duration::minutes(11));

        let read = get(&app, &rig, &proposal.proposal_id).await;

        assert_eq!(read.status, "expired");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Expired, "written, not only shown");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "expired"]);
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err().code, Code::ProposalExpired);
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "expired");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "expired"], "announced once");
    }

    async fn the_schedule_expires_proposals_over_many_pages_each_announced_once(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, "#1001").await.unwrap();
        let template = record(&app, &rig, &proposal.proposal_id).await;
        let mut ids = vec![template.action_id.clone()];
        for _ in 0..120 {
            let mut r = template.clone();
            r.action_id = new_action_id(rig.clock.now());
            r.outbox.clear();
            rig.ports.actions.mark_unsettled(&org, &r.action_id).await.unwrap();
            rig.ports.actions.put(&r, Expect::Absent).await.unwrap();
            ids.push(r.action_id);
        }
        rig.clock.advance(chrono::Duration::minutes(11));

        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();

        assert_eq!((report.visited, report.settled, report.more), (121, 121, false));
        for id in &ids {
            assert_eq!(record(&app, &rig, id).await.status, ActionStatus::Expired, "{id}");
            assert_eq!(rig.statuses(id).iter().filter(|s| *s == "expired").count(), 1, "{id}");
        }
        assert!(rig.ports.actions.unsettled(None, 1000).await.unwrap().0.is_empty());
        assert_eq!(actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap().visited, 0);
    }
}
