-- university: a small college's departments, instructors, students, courses and enrollments.
PRAGMA foreign_keys = ON;

CREATE TABLE tbl_department (
    dpt_id INTEGER PRIMARY KEY,
    dpt_name TEXT NOT NULL,
    dpt_building TEXT NOT NULL,
    dpt_budget INTEGER
);

CREATE TABLE tbl_instructor (
    ins_id INTEGER PRIMARY KEY,
    ins_name TEXT NOT NULL,
    ins_rank TEXT NOT NULL,
    ins_dpt_id INTEGER NOT NULL,
    ins_salary INTEGER,
    FOREIGN KEY (ins_dpt_id) REFERENCES tbl_department (dpt_id)
);

CREATE TABLE tbl_student (
    stu_id INTEGER PRIMARY KEY,
    stu_first TEXT NOT NULL,
    stu_last TEXT NOT NULL,
    stu_major_dpt_id INTEGER,
    stu_entry_yr INTEGER NOT NULL,
    stu_email TEXT,
    FOREIGN KEY (stu_major_dpt_id) REFERENCES tbl_department (dpt_id)
);

CREATE TABLE tbl_course (
    crs_id INTEGER PRIMARY KEY,
    crs_code TEXT NOT NULL,
    crs_title TEXT NOT NULL,
    crs_credits INTEGER NOT NULL,
    crs_dpt_id INTEGER NOT NULL,
    crs_ins_id INTEGER,
    FOREIGN KEY (crs_dpt_id) REFERENCES tbl_department (dpt_id),
    FOREIGN KEY (crs_ins_id) REFERENCES tbl_instructor (ins_id)
);

CREATE TABLE tbl_enrollment (
    enr_id INTEGER PRIMARY KEY,
    enr_stu_id INTEGER NOT NULL,
    enr_crs_id INTEGER NOT NULL,
    enr_term TEXT NOT NULL,
    enr_grade TEXT,
    FOREIGN KEY (enr_stu_id) REFERENCES tbl_student (stu_id),
    FOREIGN KEY (enr_crs_id) REFERENCES tbl_course (crs_id)
);

INSERT INTO tbl_department VALUES (1, 'Computer Science', 'Turing Hall', 1200000);
INSERT INTO tbl_department VALUES (2, 'Mathematics', 'Euler Building', 650000);
INSERT INTO tbl_department VALUES (3, 'Physics', 'Curie Hall', 900000);
INSERT INTO tbl_department VALUES (4, 'History', 'Gibbon House', 420000);
INSERT INTO tbl_department VALUES (5, 'Economics', 'Keynes Center', 780000);
INSERT INTO tbl_department VALUES (6, 'Biology', 'Darwin Labs', 1050000);
INSERT INTO tbl_department VALUES (7, 'Philosophy', 'Gibbon House', 310000);

INSERT INTO tbl_instructor VALUES (1, 'Alan Whitmore', 'Professor', 1, 142000);
INSERT INTO tbl_instructor VALUES (2, 'Priya Natarajan', 'Associate Professor', 1, 118000);
INSERT INTO tbl_instructor VALUES (3, 'Tomasz Nowak', 'Assistant Professor', 1, 96000);
INSERT INTO tbl_instructor VALUES (4, 'Helen Park', 'Professor', 2, 131000);
INSERT INTO tbl_instructor VALUES (5, 'Samuel Osei', 'Lecturer', 2, 72000);
INSERT INTO tbl_instructor VALUES (6, 'Marie Laurent', 'Professor', 3, 137000);
INSERT INTO tbl_instructor VALUES (7, 'Kenji Watanabe', 'Assistant Professor', 3, 94000);
INSERT INTO tbl_instructor VALUES (8, 'Eleanor Grey', 'Associate Professor', 4, 101000);
INSERT INTO tbl_instructor VALUES (9, 'David Mbeki', 'Lecturer', 4, 68000);
INSERT INTO tbl_instructor VALUES (10, 'Rosa Alvarez', 'Professor', 5, 128000);
INSERT INTO tbl_instructor VALUES (11, 'Jonas Keller', 'Assistant Professor', 5, 91000);
INSERT INTO tbl_instructor VALUES (12, 'Grace Odhiambo', 'Associate Professor', 6, 112000);
INSERT INTO tbl_instructor VALUES (13, 'Ivan Petrov', 'Lecturer', 7, NULL);

INSERT INTO tbl_student VALUES (1, 'Aiden', 'Clarke', 1, 2021, 'aiden.clarke@college.edu');
INSERT INTO tbl_student VALUES (2, 'Bea', 'Santos', 2, 2022, 'bea.santos@college.edu');
INSERT INTO tbl_student VALUES (3, 'Chen', 'Wei', 1, 2020, 'chen.wei@college.edu');
INSERT INTO tbl_student VALUES (4, 'Dana', 'Levi', 3, 2023, 'dana.levi@college.edu');
INSERT INTO tbl_student VALUES (5, 'Elif', 'Demir', 5, 2021, 'elif.demir@college.edu');
INSERT INTO tbl_student VALUES (6, 'Femi', 'Adebayo', 1, 2022, 'femi.adebayo@college.edu');
INSERT INTO tbl_student VALUES (7, 'Greta', 'Holm', 4, 2023, 'greta.holm@college.edu');
INSERT INTO tbl_student VALUES (8, 'Hugo', 'Marchand', 3, 2021, 'hugo.marchand@college.edu');
INSERT INTO tbl_student VALUES (9, 'Isla', 'Murray', NULL, 2024, 'isla.murray@college.edu');
INSERT INTO tbl_student VALUES (10, 'Jamal', 'Reed', 5, 2022, 'jamal.reed@college.edu');
INSERT INTO tbl_student VALUES (11, 'Kaia', 'Lund', 6, 2020, 'kaia.lund@college.edu');
INSERT INTO tbl_student VALUES (12, 'Leo', 'Rossi', 2, 2023, 'leo.rossi@college.edu');
INSERT INTO tbl_student VALUES (13, 'Maya', 'Cohen', 1, 2023, 'maya.cohen@college.edu');
INSERT INTO tbl_student VALUES (14, 'Nils', 'Berg', 6, 2022, NULL);
INSERT INTO tbl_student VALUES (15, 'Olga', 'Ivanova', 2, 2021, 'olga.ivanova@college.edu');
INSERT INTO tbl_student VALUES (16, 'Pablo', 'Ruiz', 4, 2022, 'pablo.ruiz@college.edu');
INSERT INTO tbl_student VALUES (17, 'Quinn', 'Taylor', NULL, 2024, NULL);
INSERT INTO tbl_student VALUES (18, 'Rina', 'Sato', 1, 2021, 'rina.sato@college.edu');
INSERT INTO tbl_student VALUES (19, 'Sara', 'Novak', 5, 2023, 'sara.novak@college.edu');
INSERT INTO tbl_student VALUES (20, 'Tariq', 'Aziz', 3, 2022, 'tariq.aziz@college.edu');

INSERT INTO tbl_course VALUES (1, 'CS101', 'Introduction to Programming', 4, 1, 3);
INSERT INTO tbl_course VALUES (2, 'CS201', 'Data Structures', 4, 1, 2);
INSERT INTO tbl_course VALUES (3, 'CS305', 'Databases', 3, 1, 1);
INSERT INTO tbl_course VALUES (4, 'CS410', 'Machine Learning', 3, 1, 2);
INSERT INTO tbl_course VALUES (5, 'MATH110', 'Calculus I', 4, 2, 5);
INSERT INTO tbl_course VALUES (6, 'MATH220', 'Linear Algebra', 3, 2, 4);
INSERT INTO tbl_course VALUES (7, 'MATH330', 'Probability', 3, 2, 4);
INSERT INTO tbl_course VALUES (8, 'PHYS101', 'Classical Mechanics', 4, 3, 7);
INSERT INTO tbl_course VALUES (9, 'PHYS210', 'Electromagnetism', 4, 3, 6);
INSERT INTO tbl_course VALUES (10, 'HIST120', 'World History', 3, 4, 9);
INSERT INTO tbl_course VALUES (11, 'HIST250', 'The Cold War', 3, 4, 8);
INSERT INTO tbl_course VALUES (12, 'ECON101', 'Principles of Economics', 3, 5, 11);
INSERT INTO tbl_course VALUES (13, 'ECON310', 'Econometrics', 4, 5, 10);
INSERT INTO tbl_course VALUES (14, 'BIO150', 'Cell Biology', 4, 6, 12);
INSERT INTO tbl_course VALUES (15, 'BIO240', 'Genetics', 3, 6, NULL);
INSERT INTO tbl_course VALUES (16, 'PHYS330', 'Quantum Mechanics', 4, 3, 6);

INSERT INTO tbl_enrollment VALUES (1, 1, 3, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (2, 1, 4, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (3, 1, 7, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (4, 2, 5, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (5, 2, 6, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (6, 3, 2, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (7, 3, 3, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (8, 3, 4, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (9, 4, 8, 'Fall 2023', 'C');
INSERT INTO tbl_enrollment VALUES (10, 4, 5, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (11, 4, 9, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (12, 5, 12, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (13, 5, 13, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (14, 5, 7, 'Spring 2024', 'C');
INSERT INTO tbl_enrollment VALUES (15, 6, 1, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (16, 6, 2, 'Spring 2024', 'C');
INSERT INTO tbl_enrollment VALUES (17, 6, 5, 'Fall 2023', 'D');
INSERT INTO tbl_enrollment VALUES (18, 7, 10, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (19, 7, 11, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (20, 8, 9, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (21, 8, 6, 'Spring 2024', 'C');
INSERT INTO tbl_enrollment VALUES (22, 9, 1, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (23, 9, 10, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (24, 10, 12, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (25, 10, 13, 'Spring 2024', 'F');
INSERT INTO tbl_enrollment VALUES (26, 11, 14, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (27, 11, 15, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (28, 12, 5, 'Fall 2023', 'C');
INSERT INTO tbl_enrollment VALUES (29, 12, 6, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (30, 13, 1, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (31, 13, 2, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (32, 14, 14, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (33, 14, 12, 'Spring 2024', 'C');
INSERT INTO tbl_enrollment VALUES (34, 15, 7, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (35, 15, 3, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (36, 16, 11, 'Fall 2023', 'B');
INSERT INTO tbl_enrollment VALUES (37, 16, 10, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (38, 18, 4, 'Spring 2024', 'A');
INSERT INTO tbl_enrollment VALUES (39, 18, 3, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (40, 19, 12, 'Fall 2024', NULL);
INSERT INTO tbl_enrollment VALUES (41, 20, 8, 'Fall 2023', 'A');
INSERT INTO tbl_enrollment VALUES (42, 20, 9, 'Spring 2024', 'B');
INSERT INTO tbl_enrollment VALUES (43, 3, 6, 'Fall 2024', NULL);
