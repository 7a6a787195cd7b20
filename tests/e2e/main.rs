//! The end-to-end suite: real showroomd and showroomctl binaries, a real supervisord and a real Apache, a fresh folder per test.

mod harness;

mod abuse;
mod bad_input;
mod cleanup;
mod events;
mod front_door_live;
mod frontdoor;
mod frontdoor_visitors;
mod lifecycle;
mod logs_watch;
mod nothing_lost;
mod protocol_level;
mod restart;
mod sandbox;
mod scale;
mod seed_apache;
mod seed_core;
mod service;
mod shipped_demos;
mod sleep;
mod try_sh;
mod whole_life;
mod workspace;
