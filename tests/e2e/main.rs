//! The end-to-end suite: real showroomd and showroomctl binaries, a real supervisord and a real Apache, a fresh folder per test.

mod harness;

mod abuse;
mod bad_input;
mod cleanup;
mod daytwo;
mod daytwo_cli;
mod events;
mod front_door_live;
mod frontdoor;
mod frontdoor_visitors;
mod hostile;
mod lifecycle;
mod limits;
mod logs_watch;
mod netns;
mod nothing_lost;
mod panics;
mod protocol_level;
mod restart;
mod sandbox;
mod scale;
mod seed_apache;
mod seed_core;
mod service;
mod shipped_demos;
mod sleep;
mod strays;
mod transfer;
mod try_sh;
mod upgrade;
mod whole_life;
mod workspace;
