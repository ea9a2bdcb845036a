//! Seeding goals and the totals they are measured on.
//!
//! A goal stops a seeding task (state 2 → 3) once it has uploaded enough (`ratio`), seeded
//! long enough (`seed_time`), or uploaded nothing for a while (`idle`). Each of the three
//! limits comes from the first of these that sets it: the task's own goal
//! (`task.setSeedGoal`), its label's goal, the global settings. A layer says, for each limit,
//! "inherit" (ask the next layer), "none" (no limit, whatever the next layers say) or a value.
//!
//! The totals (bytes up and down ever, seconds downloading and seeding) live in the task and
//! are saved by the sidecar; librqbit restarts its counters on every resume and saves none.

use serde::{Deserialize, Serialize};

/// The largest ratio limit accepted (the same as the setting's).
pub const MAX_RATIO: f64 = crate::config::MAX_SEED_RATIO;
/// The largest time limit accepted, in minutes (about a hundred years).
pub const MAX_MINUTES: u64 = crate::config::MAX_SEED_MINUTES;

/// One limit of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit<T> {
    /// Ask the next layer (label, then global).
    #[default]
    Inherit,
    /// No limit, whatever the next layers say.
    Unlimited,
    /// This limit.
    Value(T),
}

impl<T: Copy> Limit<T> {
    /// This layer's word, else `next`'s.
    fn or(self, next: Option<T>) -> Option<T> {
        match self {
            Limit::Inherit => next,
            Limit::Unlimited => None,
            Limit::Value(v) => Some(v),
        }
    }
}

/// A layer of goals (a task's own, or its label's).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GoalOverrides {
    #[serde(default)]
    pub ratio: Limit<f64>,
    #[serde(default)]
    pub seed_minutes: Limit<u64>,
    #[serde(default)]
    pub idle_minutes: Limit<u64>,
}

impl GoalOverrides {
    pub fn is_inherit(&self) -> bool {
        *self == GoalOverrides::default()
    }

    /// This layer over `next`.
    pub fn over(&self, next: &SeedGoal) -> SeedGoal {
        SeedGoal {
            ratio: self.ratio.or(next.ratio),
            seed_minutes: self.seed_minutes.or(next.seed_minutes),
            idle_minutes: self.idle_minutes.or(next.idle_minutes),
        }
    }
}

/// The limits in force (`None`: no limit); the global settings are one of these.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeedGoal {
    pub ratio: Option<f64>,
    pub seed_minutes: Option<u64>,
    pub idle_minutes: Option<u64>,
}

impl SeedGoal {
    /// The global goal the settings give.
    pub fn from_settings(settings: &crate::config::Settings) -> SeedGoal {
        SeedGoal {
            ratio: settings.seed_ratio_limit,
            seed_minutes: settings.seed_time_limit_minutes,
            idle_minutes: settings.seed_idle_limit_minutes,
        }
    }
}

/// Why a goal stopped a task: `task.stateUpdated`'s `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalReason {
    Ratio,
    SeedTime,
    Idle,
}

impl GoalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalReason::Ratio => "ratio",
            GoalReason::SeedTime => "seed_time",
            GoalReason::Idle => "idle",
        }
    }
}

/// A task's totals across pauses and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    #[serde(default)]
    pub uploaded: u64,
    #[serde(default)]
    pub downloaded: u64,
    #[serde(default)]
    pub seconds_downloading: u64,
    #[serde(default)]
    pub seconds_seeding: u64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.uploaded = self.uploaded.saturating_add(other.uploaded);
        self.downloaded = self.downloaded.saturating_add(other.downloaded);
        self.seconds_downloading = self
            .seconds_downloading
            .saturating_add(other.seconds_downloading);
        self.seconds_seeding = self.seconds_seeding.saturating_add(other.seconds_seeding);
    }

    pub fn is_zero(&self) -> bool {
        *self == Totals::default()
    }
}

/// The share ratio: uploaded bytes ever over the larger of the bytes downloaded ever and the
/// bytes of the chosen files held (`have`), so that a task seeding data it found on disk (it
/// downloaded nothing) has a ratio against what it holds. `0` when both are 0.
pub fn ratio(uploaded: u64, downloaded: u64, have: u64) -> f64 {
    let base = downloaded.max(have);
    if base == 0 {
        0.0
    } else {
        uploaded as f64 / base as f64
    }
}

/// The first goal met, if any, checked in the order ratio, seeding time, idle.
pub fn goal_met(
    goal: &SeedGoal,
    ratio_now: f64,
    seconds_seeding: u64,
    idle_seconds: u64,
) -> Option<GoalReason> {
    if goal.ratio.is_some_and(|limit| ratio_now >= limit) {
        return Some(GoalReason::Ratio);
    }
    if goal
        .seed_minutes
        .is_some_and(|m| seconds_seeding >= m.saturating_mul(60))
    {
        return Some(GoalReason::SeedTime);
    }
    if goal
        .idle_minutes
        .is_some_and(|m| idle_seconds >= m.saturating_mul(60))
    {
        return Some(GoalReason::Idle);
    }
    None
}

/// One ratio limit as clients write it (`task.setSeedGoal`, a label's `seed_goal`): a number
/// from 0 to [`MAX_RATIO`], `-1` for no limit, `null` to inherit. `Err` says why, naming `name`.
pub fn parse_ratio_limit(value: &serde_json::Value, name: &str) -> Result<Limit<f64>, String> {
    use serde_json::Value;
    let why = || {
        format!("{name} must be a number from 0 to {MAX_RATIO}, -1 (no limit) or null (inherit), not {value}")
    };
    match value {
        Value::Null => Ok(Limit::Inherit),
        Value::Number(n) => match n.as_f64() {
            Some(-1.0) => Ok(Limit::Unlimited),
            Some(r) if (0.0..=MAX_RATIO).contains(&r) => Ok(Limit::Value(r)),
            _ => Err(why()),
        },
        _ => Err(why()),
    }
}

/// One time limit in minutes as clients write it: a whole number from 0 to [`MAX_MINUTES`],
/// `-1` for no limit, `null` to inherit.
pub fn parse_minutes_limit(value: &serde_json::Value, name: &str) -> Result<Limit<u64>, String> {
    use serde_json::Value;
    let why = || {
        format!(
            "{name} must be a whole number of minutes from 0 to {MAX_MINUTES}, -1 (no limit) or null (inherit), not {value}"
        )
    };
    match value {
        Value::Null => Ok(Limit::Inherit),
        Value::Number(n) if n.as_i64() == Some(-1) => Ok(Limit::Unlimited),
        Value::Number(n) => match n.as_u64() {
            Some(m) if m <= MAX_MINUTES => Ok(Limit::Value(m)),
            _ => Err(why()),
        },
        _ => Err(why()),
    }
}

/// A label's `seed_goal` (`{ratio_limit?, seed_time_limit_minutes?, idle_limit_minutes?}`,
/// each as in `task.setSeedGoal`; a field absent inherits); `what` names it in errors.
pub fn parse_label_goal(value: &serde_json::Value, what: &str) -> Result<GoalOverrides, String> {
    let serde_json::Value::Object(fields) = value else {
        return Err(format!("{what} must be an object or null"));
    };
    let mut goal = GoalOverrides::default();
    for (key, value) in fields {
        let name = format!("{what}.{key}");
        match key.as_str() {
            "ratio_limit" => goal.ratio = parse_ratio_limit(value, &name)?,
            "seed_time_limit_minutes" => goal.seed_minutes = parse_minutes_limit(value, &name)?,
            "idle_limit_minutes" => goal.idle_minutes = parse_minutes_limit(value, &name)?,
            _ => {
                return Err(format!(
                    "{what}: unknown field {key:?}: expected ratio_limit, seed_time_limit_minutes, idle_limit_minutes"
                ))
            }
        }
    }
    Ok(goal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_inherit_override_and_unset() {
        let global = SeedGoal {
            ratio: Some(2.0),
            seed_minutes: Some(60),
            idle_minutes: None,
        };
        let label = GoalOverrides {
            ratio: Limit::Value(1.5),
            idle_minutes: Limit::Value(10),
            ..Default::default()
        };
        let task = GoalOverrides {
            seed_minutes: Limit::Unlimited,
            ..Default::default()
        };
        assert_eq!(
            task.over(&label.over(&global)),
            SeedGoal {
                ratio: Some(1.5),
                seed_minutes: None,
                idle_minutes: Some(10),
            }
        );
        assert_eq!(GoalOverrides::default().over(&global), global);
    }

    #[test]
    fn ratio_and_goals() {
        assert_eq!(ratio(0, 0, 0), 0.0);
        assert_eq!(ratio(100, 0, 50), 2.0);
        assert_eq!(ratio(100, 200, 50), 0.5);
        let goal = SeedGoal {
            ratio: Some(1.0),
            seed_minutes: Some(1),
            idle_minutes: Some(2),
        };
        assert_eq!(goal_met(&goal, 0.99, 59, 119), None);
        assert_eq!(goal_met(&goal, 1.0, 0, 0), Some(GoalReason::Ratio));
        assert_eq!(goal_met(&goal, 0.0, 60, 0), Some(GoalReason::SeedTime));
        assert_eq!(goal_met(&goal, 0.0, 0, 120), Some(GoalReason::Idle));
        assert_eq!(goal_met(&SeedGoal::default(), 9.0, 9999, 9999), None);
    }
}
